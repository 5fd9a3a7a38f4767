/* core_load.c -- the firmware loader: a model by reference, in a caller
 * workspace (include/calib_core.h). No allocation, no stdio: part of the core.
 *
 * The workspace holds only a struct calib_model, the parsed view that
 * calib__model_parse (format.c) builds; its section pointers point into the
 * caller's bytes, and owned == NULL, so calib_model_free() is a no-op and
 * calib_apply() runs the same per-method code as for a copied model.
 * Parsing goes into a local struct first and is copied into the workspace
 * only on success, so a failed call writes nothing. */
#include "internal.h"
#include "calib_core.h"

/* The model is placed at the first address of the workspace aligned to this
 * (>= the alignment of struct calib_model on every supported target). */
#define WS_ALIGN 16u

static size_t ws_needed(void) { return sizeof(calib_model) + (WS_ALIGN - 1u); }

/* Compile-time check (C99 idiom): the advertised bound covers this build. */
typedef char calib__workspace_bound_check[(sizeof(calib_model) + (WS_ALIGN - 1u) <=
                                           CALIB_MODEL_WORKSPACE_MAX)
                                              ? 1
                                              : -1];

static const uint8_t core_magic[8] = {'C', 'A', 'L', 'I', 'B', 'M', 'D', 'L'};

int calib_model_workspace_size(const void *buf, size_t len, size_t *size) {
  if (!buf || !size) return CALIB_E_ARG;
  if (len < 32 || memcmp(buf, core_magic, sizeof core_magic) != 0) return CALIB_E_FORMAT;
  *size = ws_needed();
  return CALIB_OK;
}

int calib_model_init_static(const calib_model **out, void *workspace, size_t ws_size,
                            const void *buf, size_t len) {
  if (!out || !workspace || !buf) return CALIB_E_ARG;
  if (ws_size < ws_needed()) return CALIB_E_SMALLBUF;
  if (((uintptr_t)buf & 7u) != 0) return CALIB_E_ARG;
  if (!calib__host_is_le()) return CALIB_E_UNSUPPORTED;
  calib_model tmp;
  memset(&tmp, 0, sizeof tmp); /* owned = NULL: by reference */
  const int st = calib__model_parse(&tmp, (const uint8_t *)buf, len, NULL);
  if (st != CALIB_OK) return st;
  const uintptr_t a = ((uintptr_t)workspace + (WS_ALIGN - 1u)) & ~(uintptr_t)(WS_ALIGN - 1u);
  calib_model *m = (calib_model *)(void *)((uint8_t *)workspace + (a - (uintptr_t)workspace));
  memcpy(m, &tmp, sizeof tmp);
  *out = m;
  return CALIB_OK;
}
