# Orca's image: `orca web` by default; the same image runs `orca worker` (see compose.yaml).
FROM python:3.11-slim

# Orca's own needs: git for mirrors, worktrees and pushes; bubblewrap is the agent's sandbox;
# slirp4netns and nftables give a sandbox with `network: true` the internet and nothing else
# (jobs/sandbox/network.py).
#
# The toolchains the sandbox has: it sees this image's /usr read-only (jobs/sandbox/argv.py),
# so what is installed here is what a repository's setup commands and the agent can run:
#   python3 3.11 with pip and venv (ensurepip): the base image's, in /usr/local
#   git, and Debian's bash, coreutils, sed, grep, tar, gzip
# and no node, npm, go, cargo, java, make or gcc. A team that needs more builds its own image
# FROM this one (README, "Toolchains"); `orca doctor` lists what the sandbox can run. Debian's
# python3-venv and python3-pip are not installed: they would bring a second python3 3.11 into
# /usr/bin, behind the base image's on the sandbox's PATH.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        git \
        bubblewrap slirp4netns nftables \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid, so a key file written by `orca setup` on a typical one-user host (uid 1000,
# mode 0600) is readable when compose.yaml mounts it.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin orca

WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY core ./core
COPY jobs ./jobs
RUN pip install --no-cache-dir . && rm -rf build *.egg-info

# Mirrors and per-run worktrees: a volume, so the mirror cache outlives the container.
ENV ORCA_DATA_DIR=/data PYTHONUNBUFFERED=1
RUN mkdir -p /data && chown orca:orca /data
VOLUME /data

USER orca
EXPOSE 8000
# /healthz answers 503 when Redis is unreachable, which urlopen raises on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["orca", "web", "--host", "0.0.0.0", "--port", "8000"]
