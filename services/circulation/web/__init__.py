"""A library's web pages: the patron portal (``/portal``, for the library's own patrons: the
home library owns the account) and the circulation desk (``/desk``, for its staff). Both call
the handlers the API routes call; they add no rule of their own."""
