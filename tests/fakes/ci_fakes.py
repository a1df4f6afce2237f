#!/usr/bin/env python3
"""Runs the ci plugin's fakes in one process, each on its own loopback
port: two Jenkins (jenkins, jenkins2) and a Zuul.  Usage: ci_fakes.py
[PORTFILE]; prints JENKINS_PORT=, JENKINS2_PORT=, ZUUL_PORT= lines
(sourceable) once all listen."""

import sys

import fakecommon
import jenkins
import zuul


def main():
    portfile = sys.argv[1] if len(sys.argv) > 1 else None
    fakecommon.serve([jenkins.JenkinsServer(), jenkins.JenkinsServer(
        name="jenkins2"), zuul.ZuulServer()], portfile)


if __name__ == "__main__":
    main()
