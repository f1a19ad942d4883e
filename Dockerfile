# helpmesh in a container: a static binary on distroless, run as non-root,
# its data (SQLite database, attachments, generated secret) in /data.
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) -t helpmesh .
#   docker run -p 8080:8080 -v helpmesh-data:/data helpmesh
FROM golang:1.26-bookworm AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.linkedVersion=${VERSION} -X main.linkedCommit=${COMMIT}" \
	-o /out/helpmesh ./cmd/helpmesh

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/helpmesh /usr/local/bin/helpmesh
ENV HELPMESH_DATA=/data \
	HELPMESH_HTTP=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/helpmesh"]
CMD ["serve"]
