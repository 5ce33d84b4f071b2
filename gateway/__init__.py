"""The thin HTTP gateway: validates, stores, enqueues and answers queries. Never loads an ML model."""
