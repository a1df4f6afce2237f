/*
 * bench_direct.c - the baseline of the ceph plugin's benchmark
 * (tests/ceph/bench.py): the libvirt calls a create makes, from a plain C
 * program with nothing around them (no chat, no store, no jobs, no MAC
 * check, no XML parsing): per node a clone of the template's volume, the
 * OSD volumes, a define and a start.  Prints the milliseconds taken.
 *
 *   bench_direct URI POOL TEMPLATE_DOMAIN PREFIX NODES OSDS OSD_BYTES START
 *                [overlay]
 *   bench_direct URI POOL - PREFIX NODES OSDS 0 0 clean   removes them again
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
	virErrorPtr e = virGetLastError();

	fprintf(stderr, "bench_direct: %s: %s\n", what,
		e && e->message ? e->message : "?");
	exit(1);
}

static void quiet(void *d, virErrorPtr e)
{
}

int main(int argc, char **argv)
{
	const char *uri, *poolname, *tpl, *prefix, *mode;
	int nodes, osds, start, i, j;
	unsigned long long osd_bytes, cap;
	virConnectPtr c;
	virStoragePoolPtr pool;
	virStorageVolPtr tvol = NULL;
	virStorageVolInfo vi;
	char *tpath = NULL, name[128], vname[160], xml[8192], disks[4096];
	long long t0;

	if (argc < 9) {
		fprintf(stderr, "usage: see the file\n");
		return 2;
	}
	uri = argv[1];
	poolname = argv[2];
	tpl = argv[3];
	prefix = argv[4];
	nodes = (int)strtol(argv[5], NULL, 10);
	osds = (int)strtol(argv[6], NULL, 10);
	osd_bytes = strtoull(argv[7], NULL, 10);
	start = (int)strtol(argv[8], NULL, 10);
	mode = argc > 9 ? argv[9] : "";
	virSetErrorFunc(NULL, quiet);
	if (!(c = virConnectOpen(uri)))
		die("open");
	if (!(pool = virStoragePoolLookupByName(c, poolname)))
		die("pool");
	if (!strcmp(mode, "clean")) {
		for (i = 1; i <= nodes; i++) {
			virDomainPtr d;

			snprintf(name, sizeof(name), "%s-%02d", prefix, i);
			if ((d = virDomainLookupByName(c, name))) {
				virDomainDestroy(d);
				virDomainUndefine(d);
				virDomainFree(d);
			}
			for (j = 0; j <= osds; j++) {
				virStorageVolPtr v;

				if (j == 0)
					snprintf(vname, sizeof(vname),
						 "%s-root.qcow2", name);
				else
					snprintf(vname, sizeof(vname),
						 "%s-osd%d.qcow2", name, j);
				if ((v = virStorageVolLookupByName(pool,
								   vname))) {
					virStorageVolDelete(v, 0);
					virStorageVolFree(v);
				}
			}
		}
		return 0;
	}
	t0 = now_ms();
	{
		/* The template's disk: the one path the plugin reads too. */
		virDomainPtr d = virDomainLookupByName(c, tpl);
		char *x, *p, *q;

		if (!d)
			die("template");
		x = virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE);
		p = x ? strstr(x, "<source file='") : NULL;
		if (!p)
			die("template disk");
		p += 14;
		q = strchr(p, '\'');
		tpath = strndup(p, (size_t)(q - p));
		free(x);
		virDomainFree(d);
		if (!(tvol = virStorageVolLookupByPath(c, tpath)))
			die("template volume");
		virStorageVolGetInfo(tvol, &vi);
		cap = vi.capacity;
	}
	for (i = 1; i <= nodes; i++) {
		virStorageVolPtr v;
		virDomainPtr d;
		char *root;
		size_t dl = 0;

		snprintf(name, sizeof(name), "%s-%02d", prefix, i);
		snprintf(vname, sizeof(vname), "%s-root.qcow2", name);
		if (!strcmp(mode, "overlay"))
			snprintf(xml, sizeof(xml),
				 "<volume><name>%s</name><capacity "
				 "unit='bytes'>%llu</capacity><target><format "
				 "type='qcow2'/></target><backingStore><path>%s"
				 "</path><format type='qcow2'/></backingStore>"
				 "</volume>",
				 vname, cap, tpath);
		else
			snprintf(xml, sizeof(xml),
				 "<volume><name>%s</name><capacity "
				 "unit='bytes'>%llu</capacity><target><format "
				 "type='qcow2'/></target></volume>",
				 vname, cap);
		v = !strcmp(mode, "overlay")
			? virStorageVolCreateXML(pool, xml, 0)
			: virStorageVolCreateXMLFrom(pool, xml, tvol, 0);
		if (!v)
			die("clone");
		root = virStorageVolGetPath(v);
		virStorageVolFree(v);
		disks[0] = 0;
		for (j = 1; j <= osds; j++) {
			char *path;

			snprintf(vname, sizeof(vname), "%s-osd%d.qcow2", name,
				 j);
			snprintf(xml, sizeof(xml),
				 "<volume><name>%s</name><capacity "
				 "unit='bytes'>%llu</capacity><allocation>0"
				 "</allocation><target><format type='qcow2'/>"
				 "</target></volume>",
				 vname, osd_bytes);
			if (!(v = virStorageVolCreateXML(pool, xml, 0)))
				die("osd volume");
			path = virStorageVolGetPath(v);
			virStorageVolFree(v);
			dl += (size_t)snprintf(
			    disks + dl, sizeof(disks) - dl,
			    "<disk type='file' device='disk'><driver "
			    "name='qemu' type='qcow2'/><source file='%s'/>"
			    "<target dev='sd%c' bus='scsi'/></disk>",
			    path, 'a' + j);
			free(path);
		}
		snprintf(
		    xml, sizeof(xml),
		    "<domain type='qemu'><name>%s</name><memory "
		    "unit='MiB'>64</memory><vcpu>1</vcpu><os><type "
		    "arch='x86_64' machine='pc'>hvm</type></os><devices>"
		    "<controller type='scsi' index='0' model='virtio-scsi'/>"
		    "<disk type='file' device='disk'><driver name='qemu' "
		    "type='qcow2'/><source file='%s'/><target dev='sda' "
		    "bus='scsi'/></disk>%s<interface type='user'><model "
		    "type='virtio'/></interface><memballoon model='none'/>"
		    "</devices></domain>",
		    name, root, disks);
		free(root);
		if (!(d = virDomainDefineXML(c, xml)))
			die("define");
		if (start && virDomainCreate(d) < 0)
			die("start");
		virDomainFree(d);
	}
	printf("%lld\n", now_ms() - t0);
	free(tpath);
	virStorageVolFree(tvol);
	virStoragePoolFree(pool);
	virConnectClose(c);
	return 0;
}
