/** The multi-stage Dockerfile of test/integration/build/spine.test.ts (one copy, shared with the isolation-mode tests). */
export const SPINE_DOCKERFILE = `# a multi-stage build
ARG BASE
FROM \${BASE} AS build
WORKDIR /src
COPY hello.txt .
RUN mkdir -p /data/old && echo a > /data/old/a && echo b > /data/b \\
 && echo "built from $(cat hello.txt)" > out.txt

FROM \${BASE} AS unused
RUN echo "this stage must not run" && exit 1

FROM \${BASE} AS assets
RUN mkdir -p /assets/sub && echo asset > /assets/sub/one && ln -s one /assets/sub/link

FROM build
RUN rm -rf /usr/bin /etc/hostname /src/hello.txt /data \\
 && mkdir -p /data && echo fresh > /data/new \\
 && echo mine > /etc/owned && chown 1000:1000 /etc/owned
COPY --from=assets /assets/sub /app/assets/
COPY --from=0 /src/out.txt /app/out.txt
COPY hello.txt /app/
COPY --chown=1000:1000 --chmod=0640 hello.txt /app/private.txt
ENV GREETING=hi NAME=world
WORKDIR /app
USER 1000:1000
EXPOSE 8080
LABEL org.example.kind=spine
CMD ["sh", "-c", "echo $GREETING $NAME; cat /app/out.txt; pwd; id -u"]
`;
