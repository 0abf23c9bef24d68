"""Load one module file of an installed library without importing the library's package.

Some readers need a single, dependency-light module of a library whose package ``__init__`` is costly to
import (gguf's constants, onnx's generated protobuf schema): the file is executed under a private name, once
per process. Only modules of installed libraries are loaded this way, never anything from a model folder.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any


def load_submodule(package: str, filename: str, private_name: str, *, install_hint: str) -> Any:
    """``<package>/<filename>`` of the installed ``package``, executed as module ``private_name``.

    Raises ``ModuleNotFoundError`` naming ``install_hint`` when the package is not installed (the CLI turns
    that into the install line of the extra)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{install_hint} (pip install {package})")
    path = os.path.join(list(spec.submodule_search_locations)[0], filename)
    file_spec = importlib.util.spec_from_file_location(private_name, path)
    if file_spec is None or file_spec.loader is None:
        raise ModuleNotFoundError(f"{package}'s {filename} not found at {path}")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[private_name] = module  # dataclass/enum machinery looks the module up while it executes
    file_spec.loader.exec_module(module)
    return module
