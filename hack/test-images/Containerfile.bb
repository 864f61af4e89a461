# localhost/bb: busybox and nothing else, plus the init wrapper (tags v1, v2 differ only in content
# of /etc/bb-version, so an update changes the image digest).
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY podctl-init /sbin/podctl-init
RUN mkdir -p /etc /root /tmp && chmod 1777 /tmp \
 && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
ARG VERSION=v1
RUN echo "$VERSION" > /etc/bb-version
LABEL org.opencontainers.image.version="$VERSION"
ENTRYPOINT ["/sbin/podctl-init"]
CMD ["sh"]
