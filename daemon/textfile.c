/* SPDX-License-Identifier: MIT */
#include "config.h"

#include "textfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens path for reading without blocking on FIFOs or taking a terminal,
 * and checks that it is a file one can read text from. */
static int open_readable(const char *path, int *ret_fd)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	/* Character devices pass so that /dev/null reads as empty (tests and
	 * users point AWS_CONFIG_FILE there); the size bound and O_NONBLOCK
	 * keep /dev/zero or a tty from doing harm. */
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	*ret_fd = fd;
	return 0;
}

/* Reads at most max bytes (plus one, to detect an oversized file). */
static int read_bounded(int fd, size_t max, char **ret, size_t *ret_size)
{
	size_t cap = 4096, size = 0;
	char *buf = malloc(cap);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (size + 1 >= cap) {
			size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			char *nbuf;

			if (ncap <= cap) {
				r = -EFBIG;
				break;
			}
			/* realloc would leave the old copy unwiped; move by hand. */
			nbuf = malloc(ncap);
			if (!nbuf) {
				r = -ENOMEM;
				break;
			}
			memcpy(nbuf, buf, size);
			textfile_free(buf, size);
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + size, cap - size - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errno == EAGAIN ? -EINVAL : -errno;
			break;
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > max) {
			r = -EFBIG;
			break;
		}
	}
	if (r == 0 && memchr(buf, '\0', size))
		r = -EINVAL;
	if (r < 0) {
		textfile_free(buf, size);
		return r;
	}
	buf[size] = '\0';
	*ret = buf;
	*ret_size = size;
	return 0;
}

int textfile_read(const char *path, size_t max, char **ret, size_t *ret_size)
{
	int fd = -1, r; /* -1: gcc cannot see open_readable() sets it */

	r = open_readable(path, &fd);
	if (r < 0)
		return r;
	r = read_bounded(fd, max, ret, ret_size);
	close(fd);
	return r;
}

char *textfile_free(char *buf, size_t size)
{
	if (buf) {
		explicit_bzero(buf, size);
		free(buf);
	}
	return NULL;
}

char *textfile_next_line(char **cursor)
{
	char *line = *cursor, *nl;
	size_t len;

	if (!line || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl) {
		*nl = '\0';
		*cursor = nl + 1;
	} else
		*cursor = line + strlen(line);
	len = strlen(line);
	if (len > 0 && line[len - 1] == '\r')
		line[len - 1] = '\0';
	return line;
}

char *text_strip(char *s)
{
	size_t n;

	while (text_is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && text_is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}
