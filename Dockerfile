# syntax=docker/dockerfile:1.7
# Small static image: the binary is linked against musl (Alpine's Rust targets musl and links
# statically by default) and runs on distroless/static as user 65532.
#   docker build -t kubernaut/workflowexecution:0.1.0 .

FROM rust:1.95-alpine AS build
# ring compiles a little C and assembly.
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
# Optional: path (inside the build context, under /src) of the DataStorage OpenAPI document to
# embed for the datastorage audit sink's schema check; without it the sink needs audit.schemaFile.
ARG WFE_DATASTORAGE_OPENAPI
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p workflowexecution -p wfe-plugin \
      --bin workflowexecution --bin kubectl-wfe \
 && cp target/release/workflowexecution /workflowexecution \
 && cp target/release/kubectl-wfe /kubectl-wfe \
 && /workflowexecution version \
 && /kubectl-wfe --version

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="workflowexecution" \
      org.opencontainers.image.description="Kubernaut WorkflowExecution controller and admission webhook" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /workflowexecution /usr/local/bin/workflowexecution
# Second artefact: the operator's kubectl plugin (shares the build; copy it out with
# `docker cp` or `kubectl cp` and put it next to kubectl). Not used by the service.
COPY --from=build /kubectl-wfe /usr/local/bin/kubectl-wfe
USER 65532:65532
EXPOSE 9443 8081 9090
ENTRYPOINT ["/usr/local/bin/workflowexecution"]
CMD ["run", "--config", "/etc/workflowexecution/config.yaml"]
