"""The union catalogue's storage: tables, loading (JSON, MARC21, MARCXML, COPY), circulation
events, search. ``repository`` gathers the functions the routes and the consumer call."""
