# SPDX-License-Identifier: MIT
# growmapd, the paging daemon, and growmapctl, its status tool
# (included from Makefile.am). The daemon compiles lib/extent.c in: it
# settles files as the library does, without linking the library. It
# writes the files back through io_uring (liburing).

sbin_PROGRAMS = daemon/growmapd
daemon_growmapd_SOURCES = daemon/growmapd.c daemon/sockpath.c daemon/sockpath.h \
	lib/extent.c lib/extent.h lib/parse-number.c lib/parse-number.h lib/proto.h \
	lib/cachestat.h
daemon_growmapd_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(LIBURING_CFLAGS)
daemon_growmapd_LDADD = $(LIBSYSTEMD_LIBS) $(LIBURING_LIBS)

bin_PROGRAMS += daemon/growmapctl
daemon_growmapctl_SOURCES = daemon/growmapctl.c daemon/sockpath.c daemon/sockpath.h \
	lib/proto.h

dist_man8_MANS = man/growmapd.8 man/growmapctl.8

# systemd units; ExecStart names $(sbindir) as 'make' sees it, so the
# services are generated here rather than by configure.
systemdsystemunitdir = @systemdsystemunitdir@
systemduserunitdir = @systemduserunitdir@
dist_systemdsystemunit_DATA = daemon/growmapd.socket
nodist_systemdsystemunit_DATA = daemon/growmapd.service
dist_systemduserunit_DATA = daemon/user/growmapd.socket
nodist_systemduserunit_DATA = daemon/user/growmapd.service
EXTRA_DIST += daemon/growmapd.service.in daemon/user/growmapd.service.in
CLEANFILES = daemon/growmapd.service daemon/user/growmapd.service

daemon/growmapd.service: $(srcdir)/daemon/growmapd.service.in Makefile
daemon/user/growmapd.service: $(srcdir)/daemon/user/growmapd.service.in Makefile
daemon/growmapd.service daemon/user/growmapd.service:
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' $(srcdir)/$@.in > $@.tmp && mv $@.tmp $@

# distcheck installs as a user under its own prefix: the unit directories
# must follow it there.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-systemduserunitdir='$${prefix}/lib/systemd/user'

# ---- tests -----------------------------------------------------------------
# check_daemon runs the built growmapd and growmapctl; check_units has
# systemd-analyze verify the units (skipped where it is missing).
# tests/fdatasync-eio.so is preloaded into a daemon to make it meet a
# writeback error.
tests_check_daemon_SOURCES = tests/check_daemon.c lib/proto.h \
	tests/refuse-syscall.c tests/refuse-syscall.h
tests_check_daemon_CPPFLAGS = $(AM_CPPFLAGS) \
	-DGROWMAPD_PROG='"$(abs_top_builddir)/daemon/growmapd"' \
	-DGROWMAPCTL_PROG='"$(abs_top_builddir)/daemon/growmapctl"' \
	-DFDATASYNC_EIO_SO='"$(abs_top_builddir)/tests/.libs/fdatasync-eio.so"'
tests_check_daemon_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_daemon_LDADD = $(CHECK_LIBS)
EXTRA_tests_check_daemon_DEPENDENCIES = tests/fdatasync-eio.la
check_LTLIBRARIES = tests/fdatasync-eio.la
tests_fdatasync_eio_la_SOURCES = tests/fdatasync-eio.c
tests_fdatasync_eio_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_fdatasync_eio_la_LIBADD = -ldl

tests_check_units_SOURCES = tests/check_units.c
tests_check_units_CPPFLAGS = $(AM_CPPFLAGS) \
	-DGROWMAPD_PROG='"$(abs_top_builddir)/daemon/growmapd"' \
	-DUNIT_SRCDIR='"$(abs_top_srcdir)/daemon"' \
	-DUNIT_BUILDDIR='"$(abs_top_builddir)/daemon"'
tests_check_units_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_units_LDADD = $(CHECK_LIBS)
EXTRA_tests_check_units_DEPENDENCIES = daemon/growmapd.service daemon/user/growmapd.service

# The fuzzing harnesses (./configure --enable-fuzzing) drive this daemon.
include $(srcdir)/tests/fuzz/local.mk
