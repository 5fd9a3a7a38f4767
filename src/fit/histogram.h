/* histogram.h -- CALIB_METHOD_HISTOGRAM: histogram binning (Zadrozny &
 * Elkan 2001), src/fit/histogram.c. */
#ifndef CALIB_FIT_HISTOGRAM_H
#define CALIB_FIT_HISTOGRAM_H

#include "fit_internal.h"

extern const calib__param_spec calib__histogram_params[];
int calib__histogram_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

#endif
