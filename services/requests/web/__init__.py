"""The consortium's pages, served by the request broker: the operators' dashboard
(``/dashboard``, behind an operator's sign-in) and the federation's start page (``/``)."""
