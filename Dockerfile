# helpmesh in a container: a static binary on distroless, run as non-root,
# its data (SQLite database, attachments, generated secret) in /data.
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) -t helpmesh .
#   docker run -p 8080:8080 -v helpmesh-data:/data helpmesh
#
# GO_IMAGE and RUN_IMAGE name the two base images; change them only to build
# from a mirror or from local images (cmd/helpmesh TestContainerImage builds
# with podman from bases it makes itself).
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUN_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.linkedVersion=${VERSION} -X main.linkedCommit=${COMMIT}" \
	-o /out/helpmesh ./cmd/helpmesh && \
	mkdir /out/data

FROM ${RUN_IMAGE}
COPY --from=build /out/helpmesh /usr/local/bin/helpmesh
# /data owned by the non-root user: a new named volume (Docker) takes the owner
# of the image's directory; one Docker creates itself belongs to root.
COPY --from=build --chown=65532:65532 /out/data /data
ENV HELPMESH_DATA=/data \
	HELPMESH_HTTP=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/helpmesh"]
CMD ["serve"]
