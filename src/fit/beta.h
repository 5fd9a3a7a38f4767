/* beta.h -- beta calibration fit (src/fit/beta.c). */
#ifndef CALIB_BETA_H
#define CALIB_BETA_H

#include "fit_internal.h"

extern const calib__param_spec calib__beta_params[];
int calib__beta_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

#endif
