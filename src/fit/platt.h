/* platt.h -- Platt scaling fit (src/fit/platt.c). */
#ifndef CALIB_PLATT_H
#define CALIB_PLATT_H

#include "fit_internal.h"

extern const calib__param_spec calib__platt_params[];
int calib__platt_fit(calib_fitter *f, const calib__fit_data *d, calib_model **out);

#endif
