"""Locust files, alone in their folder: Locust puts a locustfile's folder first on sys.path,
and steps/deployment/ holds a ``platform.py`` that would shadow the standard library's."""
