# Flashcard LMS — production image: slim Python, non-root, WhiteNoise static, gunicorn.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/lms-prometheus

RUN apt-get update \
 && apt-get install -y --no-install-recommends curl postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN groupadd --system lms && useradd --system --gid lms --home /app lms \
 && mkdir -p /app/media /app/backups /app/var /tmp/lms-prometheus \
 && chown -R lms:lms /app/media /app/backups /app/var /tmp/lms-prometheus

# collectstatic needs settings that would start in production; a throwaway key is enough here.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-key-not-used-at-runtime-0123456789abcdef \
    ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput

USER lms
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/health/live/ || exit 1

CMD ["gunicorn", "-c", "lms/gunicorn.conf.py", "lms.wsgi"]
