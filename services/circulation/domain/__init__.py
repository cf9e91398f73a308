"""The circulation domain of one member library: pure rules and state, no I/O.

Every operation takes the current state (immutable models) and the instant, decides through
the policy engine (:mod:`libs.common.policy`), and returns the decision, the new state and
the events; the service layer stores them and publishes the events.

Modules: ``patrons`` (registration, standing); ``credentials`` (the account's cards and
secrets) with ``cards`` (library cards), ``smart_id_use`` (the smart ID card in library use)
and ``sign_in``, helped by ``hkid``, ``smart_id`` (reading the card) and ``hashing``;
``items``; ``loan`` (the loan) and ``lending`` (checkout, return, renewal, recall, loss);
``holds`` (reservation queues); ``ledger`` (fines and fees); ``account`` (the account as the
policy engine sees it); ``events``; ``errors``.
"""
