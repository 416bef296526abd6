# ptuned container image: build on Debian 12 with the -dev packages, run on Debian 12 slim with only the
# runtime libraries. Both package lists are the files CI installs from (deploy/packages-*.txt), installed by
# the same script (deploy/install-packages.sh); tests/integration/test_deploy.py keeps this file honest.
#
#   docker build -t ptuned .
#   docker run -p 8080:8080 -v ptuned-data:/data -v "$PWD/models/bert-base-chinese:/models:ro" ptuned
#
# Without a backbone at /models, try the built-in random-weight one (it learns nothing useful; /info says
# "pretrained": false):  docker run -p 8080:8080 -e PTUNED_MODEL=/usr/local/share/ptuned/default-model ptuned

FROM debian:bookworm AS build
COPY deploy/install-packages.sh deploy/packages-build.txt /tmp/deploy/
RUN sh /tmp/deploy/install-packages.sh /tmp/deploy/packages-build.txt \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" && make default-model

FROM debian:bookworm-slim
COPY deploy/install-packages.sh deploy/packages-runtime.txt /tmp/deploy/
RUN sh /tmp/deploy/install-packages.sh /tmp/deploy/packages-runtime.txt --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/deploy
# A fixed uid, so that volume ownership and Kubernetes' runAsUser agree (deploy/k8s uses 10001 too).
RUN groupadd --system --gid 10001 ptuned \
    && useradd --system --uid 10001 --gid ptuned --home-dir /data --no-create-home --shell /usr/sbin/nologin ptuned \
    && mkdir -p /data /models \
    && chown ptuned:ptuned /data
COPY --from=build /src/bin/ptuned /src/bin/ptune /usr/local/bin/
COPY --from=build /src/build/default-model /usr/local/share/ptuned/default-model
ENV PTUNED_MODEL=/models \
    PTUNED_DB=/data/ptuned.db \
    PTUNED_LISTEN=0.0.0.0:8080 \
    PTUNED_LOG_FORMAT=json
VOLUME ["/data", "/models"]
USER 10001:10001
WORKDIR /data
EXPOSE 8080
# The slim image has no curl: the daemon probes its own /healthz on PTUNED_LISTEN.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["ptuned", "--healthcheck"]
# The daemon drains on SIGTERM: stops accepting, finishes requests in flight, requeues running training.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ptuned"]
