"""Arrays from other libraries, without copies (issue 13, part 2).

as_ndarray(a) returns a numpy array sharing a's memory whenever a exposes
it: numpy arrays as they are; CPU torch tensors through Tensor.numpy() of a
detached view (no copy, also for tensors that require grad); any object
with __array_interface__ or __array__ (np.asarray: a view when the object
offers one); else any DLPack producer (__dlpack__: np.from_dlpack, read
only). Anything else (lists, scalars) is returned unchanged for numpy to
convert. _arrays then passes the view to C without a copy when it is
C-contiguous, aligned and of the library's dtype (float32 scores, int64
labels, float64 weights), and converts it once otherwise.
GPU tensors are refused with a clear message (the library reads host
memory): move them with .cpu() first."""
import numpy as np


def _is_torch(a):
    return type(a).__module__.startswith("torch") and hasattr(a, "data_ptr") and hasattr(a, "detach")


def as_ndarray(a, writeable=False):
    if type(a) is np.ndarray:
        return a
    if _is_torch(a):
        if a.device.type != "cpu":
            raise TypeError("calib: a torch tensor on %s; the library reads host memory: pass tensor.cpu()"
                            % a.device)
        t = a.detach()
        if t.is_conj() or t.is_neg():
            t = t.resolve_conj().resolve_neg()
        return t.numpy()
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__array_interface__") or hasattr(a, "__array_struct__") or hasattr(a, "__array__"):
        return np.asarray(a)
    if hasattr(a, "__dlpack__") and not writeable:
        return np.from_dlpack(a)
    return a
