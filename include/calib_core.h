/*
 * calib_core.h -- libcalib's firmware subset: apply a calibration model that
 * lives in flash, with no heap, no stdio and no operating system.
 *
 * Build: `make core` gives lib/libcalib_core.a (src/common, the scalar
 * kernels, src/model and the shared bin convention of src/metrics/binning.c,
 * compiled with -DCALIB_CORE). It calls no malloc/free, no stdio, no
 * getenv/cpuid, no BLAS/LAPACK: the kernel path is fixed at compile time
 * (NEON when built for aarch64 with the NEON kernels, else scalar). Its only
 * external references are a few libm functions (expf, exp, log, log1p, floor,
 * ceil, fabs), memcpy/memset/memcmp/memmove/strcmp, and on some targets the
 * compiler's run-time helpers (libgcc: soft double arithmetic on a
 * single-precision FPU such as the Cortex-M4F's); test/sh/test_core_nm.sh
 * checks that list on every build. The core has no writable static data
 * (make size-report: 0 bytes of .data and .bss on a Cortex-M4F).
 *
 * This header includes calib.h, whose conventions hold here too (status
 * codes, "a failed call writes nothing", float32 data, k == 1 = binary).
 * Of calib.h, the core archive provides:
 *   calib_strerror, calib_version_number, calib_version_string,
 *   calib_method_name, calib_method_from_name,
 *   calib_model_method, calib_model_classes, calib_model_param,
 *   calib_model_size, calib_model_save, calib_apply,
 *   calib_softmax, calib_log_softmax, calib_sigmoid, calib_isa,
 *   the typed inputs (int8/uint8 with scale and zero point, float16,
 *   bfloat16; float16 output): calib_dtype_size, calib_softmax_typed,
 *   calib_apply_typed, calib_apply_typed_rows -- the scalar conversion (no
 *   _Float16 or __fp16 needed: float16 is converted in software, exactly, on
 *   every target), a 1 KiB stack block for the non-temperature methods
 *   (16 KiB in the full library), no heap;
 *   the row-wise calls calib_softmax_rows, calib_log_softmax_rows,
 *   calib_sigmoid_rows, calib_apply_rows;
 *   calib_bin_index,
 *   calib_model_load and calib_model_free (present, but with no heap
 *   calib_model_load always fails with CALIB_E_NOMEM: use
 *   calib_model_init_static below).
 * Fitting, metrics and the file helpers are not in the core.
 *
 * Methods: every method whose apply code is built into the library applies
 * through the core, the same code as the full library (one apply path per
 * method, src/model/<method>_apply.c): temperature, Platt, beta, isotonic,
 * histogram binning, and the matrix family (vector, matrix, Dirichlet
 * scaling, ETS) once their apply code is present -- their apply is a plain-C
 * k x k matrix-vector product, never BLAS. A valid model of a method whose
 * apply code is not in this build is CALIB_E_UNSUPPORTED at load time
 * (calib_method_name() still names it).
 *
 * Typical firmware use (model.h from `calib export-c model.calib > model.h`,
 * which declares the bytes 8-byte aligned):
 *
 *     #include "calib_core.h"
 *     #include "model.h"
 *     static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];
 *     const calib_model *m = NULL;
 *     if (calib_model_init_static(&m, ws, sizeof ws, calib_model_data.bytes,
 *                                 CALIB_MODEL_DATA_SIZE) != CALIB_OK) fail();
 *     calib_apply(m, logits, n, k, probs);   // probs may equal logits
 *
 *     // int8 logits of a quantized network (TFLite: real = scale * (q - zp))
 *     calib_input in = {CALIB_DTYPE_I8, q, 0, 0.375f, 0, NULL, NULL};
 *     calib_apply_typed(m, &in, n, k, probs, CALIB_DTYPE_F32, 0);
 */
#ifndef CALIB_CORE_H
#define CALIB_CORE_H

#include "calib.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An upper bound of calib_model_workspace_size() for every model, on every
 * target, in this version of the library: lets firmware reserve the workspace
 * statically (e.g. `static uint64_t ws[CALIB_MODEL_WORKSPACE_MAX / 8];`).
 * The library checks at compile time that its own need fits in it. */
#define CALIB_MODEL_WORKSPACE_MAX 1024

/*! calib_model_workspace_size() :
 *  *size = the number of bytes of workspace calib_model_init_static() needs
 *  for the model bytes buf[0..len-1]. The workspace holds only the parsed view
 *  of the model (method, k, where each parameter array starts): parameters
 *  are never copied, so in this version the answer is the same for every
 *  model (a few hundred bytes, <= CALIB_MODEL_WORKSPACE_MAX); it takes the
 *  bytes so that a later format version may need more for some models.
 *  Only the magic is looked at here; calib_model_init_static() validates
 *  everything. buf is only read and not kept. Reentrant, no allocation.
 *  Errors (nothing written): CALIB_E_ARG (buf or size NULL), CALIB_E_FORMAT
 *  (len < 32 or the bytes do not start with the model magic "CALIBMDL"). */
CALIB_NODISCARD CALIB_API int calib_model_workspace_size(const void *buf, size_t len,
                                                         size_t *size);

/*! calib_model_init_static() :
 *  Loads a model BY REFERENCE: validates the len bytes at buf exactly as
 *  calib_model_load() does (magic, format version, header and payload
 *  CRC-32, every length and count, then the method's own checks of its
 *  parameter values) and, on success, builds in `workspace` a model whose
 *  parameter arrays point into buf, and sets *out to it. Nothing is copied
 *  and nothing is allocated.
 *    buf       : the model bytes (e.g. a const array in flash), exactly one
 *                serialised model (trailing bytes are CALIB_E_FORMAT). MUST be
 *                8-byte aligned, because the float64 parameter arrays are read
 *                in place; `calib export-c` emits an aligned array. A
 *                misaligned buf is CALIB_E_ARG (an argument error, not a
 *                format error: the same bytes at an aligned address load).
 *                Use calib_model_load() to load from an unaligned buffer.
 *    workspace : ws_size bytes, any alignment (the model is placed at the
 *                first suitably aligned address inside it).
 *  Ownership and lifetime: buf and workspace must stay valid and unchanged
 *  for as long as the model is used; the caller owns both. There is nothing
 *  to free (calib_model_free() on such a model is a no-op); reusing the
 *  workspace for another call simply replaces the model.
 *  The model then works with every const calib_model * function of calib.h
 *  that the core provides (calib_apply, calib_model_param, ...), identically
 *  to a copied model of the same bytes, and is immutable: any number of
 *  threads may apply it at once. The call itself is reentrant for distinct
 *  workspaces; do not re-initialise a workspace while its model is in use.
 *  Errors (nothing written: *out and the workspace are left untouched):
 *    CALIB_E_ARG         out, workspace or buf NULL; buf not 8-byte aligned
 *    CALIB_E_SMALLBUF    ws_size < calib_model_workspace_size()
 *    CALIB_E_FORMAT      truncated, corrupted (CRC mismatch), future format
 *                        version, unknown method id, inconsistent lengths or
 *                        counts, invalid parameter values (e.g. NaN, T <= 0)
 *    CALIB_E_UNSUPPORTED a valid model of a method not built into this
 *                        library; or a big-endian host (the arrays are
 *                        little-endian and read in place) */
CALIB_NODISCARD CALIB_API int calib_model_init_static(const calib_model **out,
                                                      void *workspace, size_t ws_size,
                                                      const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CALIB_CORE_H */
