FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY commerce ./commerce
COPY adapters ./adapters
COPY migrations ./migrations
RUN pip install --no-cache-dir . && useradd --create-home commerce
USER commerce
EXPOSE 8000
# Migrations run on start (serve applies them under an advisory lock).
CMD ["commerce", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
