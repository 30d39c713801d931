"""File-descriptor limits: raise the soft RLIMIT_NOFILE, explain EMFILE.

Imports only the stdlib.

Every request in flight holds one socket, so ``map(urls, size=10_000)``
needs ten thousand file descriptors plus a few dozen for the interpreter.
Linux and macOS start most processes with a *soft* limit of 1,024 (256 on
macOS) under a much higher *hard* limit, which an unprivileged process may
raise its soft limit to. gfetch does that lazily: the first time opening a
socket fails with EMFILE ("Too many open files"), it raises the soft limit
to the hard one and tries again. Only when the hard limit is reached too
does the request fail, with an ``OSError(EMFILE)`` that says what to do.

Discussion: Go's runtime raises the soft limit to the hard one at startup
for the same reason. gfetch waits for the first EMFILE instead, so a program
that never needs more descriptors keeps its limits untouched. Two effects
remain once it is raised: child processes inherit the higher limit, and
descriptors numbered 1,024 and above can exist, which ``select.select()``
(FD_SETSIZE) cannot watch; gfetch's hub uses epoll/kqueue/poll, which can.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable
from typing import TypeVar

try:
    import resource
except ImportError:  # Windows: no RLIMIT_NOFILE to raise
    resource = None  # type: ignore[assignment]

__all__ = ["fd_limits", "open_fd", "raise_fd_limit", "too_many_open_files"]

T = TypeVar("T")

# macOS refuses soft limits above OPEN_MAX even when the hard limit is
# RLIM_INFINITY; Linux refuses those above fs.nr_open (1,048,576 by default).
_FALLBACK_CAPS = (1 << 20, 10240)
_lock = threading.Lock()


def fd_limits() -> tuple[int, int] | None:
    """The ``(soft, hard)`` RLIMIT_NOFILE of this process, None where unknown.

    ``resource.RLIM_INFINITY`` (-1 on Linux) means unlimited.
    """
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


def raise_fd_limit(target: int | None = None) -> int | None:
    """Raise this process's soft limit on open files toward the hard limit.

    Raises the soft RLIMIT_NOFILE to ``target``, or to the hard limit when
    ``target`` is None, never above the hard limit and never lowering it.
    gfetch also does this by itself at the first EMFILE, so calling it is
    only needed to claim the descriptors up front. Child processes inherit
    the new limit. Thread-safe; never blocks.

    Returns:
        The soft limit now in force, or None where the platform has none
        (Windows). ``resource.RLIM_INFINITY`` means unlimited.
    """
    if resource is None:
        return None
    unlimited = resource.RLIM_INFINITY
    with _lock:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if target is None or (hard != unlimited and target > hard) else target
        if soft == unlimited or (wanted != unlimited and wanted <= soft):
            return soft
        caps = [wanted] if wanted != unlimited else []
        caps += [cap for cap in _FALLBACK_CAPS if soft < cap and (wanted == unlimited or cap < wanted)]
        for cap in caps:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (cap, hard))
                return cap
            except (ValueError, OSError):
                continue  # above what this kernel allows: try a lower cap
        return soft


def too_many_open_files() -> OSError:
    """An ``OSError(EMFILE)`` whose message explains the limit and the fixes."""
    limits = fd_limits()
    if limits is None:
        where = "this process has run out of file descriptors"
    else:
        soft, hard = (("unlimited" if n == resource.RLIM_INFINITY else f"{n:,}") for n in limits)
        where = f"this process may open at most {soft} (soft RLIMIT_NOFILE; hard limit {hard})"
    return OSError(
        errno.EMFILE,
        f"Too many open files: gfetch needs one file descriptor per request in flight and {where}. "
        "Lower size= (requests in flight), or raise the limit before starting Python: `ulimit -n 65536` "
        "(the hard limit itself is set by the administrator: limits.conf, systemd LimitNOFILE=, "
        "docker --ulimit nofile=...)",
    )


def open_fd(opener: Callable[[], T]) -> T:
    """Call ``opener``, which opens one descriptor; at EMFILE raise the soft
    limit (:func:`raise_fd_limit`) and call it once more.

    Raises:
        OSError(EMFILE): from :func:`too_many_open_files` when that fails too.
            Other errors of ``opener`` propagate unchanged.
    """
    try:
        return opener()
    except OSError as exc:
        if exc.errno != errno.EMFILE:
            raise
    # Discussion: retry even when this thread's raise_fd_limit changed
    # nothing: another thread may have raised the limit meanwhile.
    raise_fd_limit()
    try:
        return opener()
    except OSError as exc:
        if exc.errno != errno.EMFILE:
            raise
        raise too_many_open_files() from exc
