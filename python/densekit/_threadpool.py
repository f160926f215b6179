"""densekit's thread team under threadpoolctl: `threadpool_info()` lists it and
`threadpool_limits(n)` sets its thread count (and restores it after), so that joblib and
scikit-learn, which limit the threads of every library they know in their workers, divide the
cores between densekit's workers instead of each one starting all of them.
"""

import importlib.util
import os

from densekit import _core

__all__ = ["register_with_threadpoolctl"]


def register_with_threadpoolctl():
    """Registers densekit's controller with threadpoolctl when threadpoolctl is installed; does
    nothing (and imports nothing) otherwise. Returns whether it registered."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return False
    import threadpoolctl

    if not hasattr(threadpoolctl, "register"):  # threadpoolctl < 3.5 has no third-party API
        return False
    threadpoolctl.register(_controller_class(threadpoolctl.LibController))
    return True


def _controller_class(base):
    # threadpoolctl finds a library by the file name of a loaded shared object: ours is the
    # `_core` extension module, whose name other packages' extensions may share.
    core_path = os.path.realpath(_core.__file__)

    class DensekitController(base):
        user_api = "densekit"
        internal_api = "densekit"
        filename_prefixes = (os.path.basename(core_path).lower(),)

        def set_additional_attributes(self):
            # threadpoolctl skips a candidate whose controller raises OSError: another package's
            # `_core` of the same file name is not densekit.
            if os.path.realpath(self.filepath) != core_path:
                raise OSError(f"{self.filepath} is not densekit's extension module")

        def get_num_threads(self):
            return _core.get_num_threads()

        def set_num_threads(self, num_threads):
            _core.set_num_threads(int(num_threads))

        def get_version(self):
            return _core.build_info()["version"]

    return DensekitController
