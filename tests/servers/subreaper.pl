#!/usr/bin/perl
# tests/servers/subreaper.pl - libvirtd runs under it in the tests (see
# libvirtd-start): QEMU double-forks, and this reaps it at once.
# subreaper.pl CMD [ARGS...]
# Runs CMD as a child while being a "child subreaper" (prctl
# PR_SET_CHILD_SUBREAPER), reaping every orphan that gets re-parented to it,
# and exits with CMD's status when CMD exits.  SIGTERM/SIGINT are forwarded.
#
# Why: QEMU started by libvirt double-forks, so its parent becomes the
# nearest subreaper or PID 1.  On these machines PID 1 (/process_api) reaps
# zombies only every ~1-2 s, and libvirt's virDomainDestroy polls until the
# QEMU pid is fully gone -> every destroy costs 1.4-2 s.  Under this wrapper
# the zombie is reaped at once and destroy takes ~0.2 s.
use strict;
use warnings;
use POSIX ();
# 157 = __NR_prctl on x86_64, 36 = PR_SET_CHILD_SUBREAPER
syscall(157, 36, 1, 0, 0, 0) == 0 or die "prctl(PR_SET_CHILD_SUBREAPER): $!\n";
my $pid = fork() // die "fork: $!\n";
if (!$pid) { exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"; }
$SIG{TERM} = $SIG{INT} = sub { kill 'TERM', $pid };
for (;;) {
    my $w = waitpid(-1, 0);
    if ($w == -1) { next if $!{EINTR}; exit 1; }
    next unless $w == $pid;
    exit(POSIX::WIFEXITED($?) ? POSIX::WEXITSTATUS($?) : 128 + POSIX::WTERMSIG($?));
}
