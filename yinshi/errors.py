"""Errors a user can cause and read: the CLI prints them as one line, never a traceback."""


class UserError(Exception):
    """Bad input or a missing prerequisite, explained in the message."""


class ServiceError(Exception):
    """Why the poet could not answer a request sent through the queue.

    One base with one subclass per cause, so the bot maps each cause to one message and
    `yinshi ask` prints any of them as one line.
    """


class Busy(ServiceError):
    """The queue is longer than the configured limit; nothing was enqueued."""


class Timeout(ServiceError):
    """No answer before the request's deadline; the worker drops the request unanswered."""


class InvalidRequest(ServiceError):
    """The worker refused the request as impossible (e.g. acrostic heads that fit no form)."""


class QueueUnreachable(ServiceError):
    """Redis, and with it every worker, cannot be reached: nothing was enqueued."""


class WorkerError(ServiceError):
    """The worker failed on this request (a crash, repeated failures, an unreadable job)."""
