"""The service: ``hpo serve``'s HTTP API, its job queue and the Ray jobs that run searches.

- :mod:`hpo.service._queue`: the job queue, one table beside Optuna's in the store's
  database, so a server restart loses nothing;
- :mod:`hpo.service._submission`: a request's body checked into a search to queue;
- :mod:`hpo.service._ray_jobs`: the Ray cluster (the server's own ``ray start --head``
  or a running one) and its Job Submission client;
- :mod:`hpo.service._dispatcher`: each queued search a Ray job, started, followed,
  stopped and, after a restart, resumed;
- :mod:`hpo.service._job_main`: what runs inside the Ray job (``run_search``, as
  ``hpo run`` does);
- :mod:`hpo.service._api`, :mod:`hpo.service._openapi`, :mod:`hpo.service._auth`,
  :mod:`hpo.service._server`: the ``/api/v1`` routes, their OpenAPI document, the token
  and the one HTTP server that also serves the dashboard;
- :mod:`hpo.service._service`: all of it put together and closed in order;
- :mod:`hpo.service._client`: what ``hpo run --server``, ``hpo status`` and
  ``hpo cancel`` call.

Importing this package loads nothing heavy; SQLAlchemy and Ray load when used.
"""
