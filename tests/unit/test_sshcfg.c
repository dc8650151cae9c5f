/*
 * Unit tests for sshcfg.c: the parser on real `ssh -G` output (OpenSSH
 * 9.2p1, Debian 12) and on every boundary and malformed line a changed
 * or hostile ssh could print, and sshcfg_load() against a fake ssh (a
 * shell script in a temporary directory) for both the success and the
 * rejection paths.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit.h"

#include "sshcfg.h"

/* One cmocka test per table row, so that a failing row is named. */

/*
 * The run of lines that Debian's ssh 9.2 prints alike for g_default and
 * g_proxy, from canonicalizefallbacklocal to serveralivecountmax.
 */
#define G_SHARED \
    "canonicalizefallbacklocal yes\n" \
    "canonicalizehostname false\n" \
    "checkhostip no\n" \
    "compression no\n" \
    "controlmaster false\n" \
    "enablesshkeysign no\n" \
    "clearallforwardings no\n" \
    "exitonforwardfailure no\n" \
    "fingerprinthash SHA256\n" \
    "forwardx11 no\n" \
    "forwardx11trusted yes\n" \
    "gatewayports no\n" \
    "gssapiauthentication yes\n" \
    "gssapikeyexchange no\n" \
    "gssapidelegatecredentials no\n" \
    "gssapitrustdns no\n" \
    "gssapirenewalforcesrekey no\n" \
    "gssapikexalgorithms gss-group14-sha256-,gss-group16-sha512-,gss-nist" \
    "p256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-" \
    "\n" \
    "hashknownhosts yes\n" \
    "hostbasedauthentication no\n" \
    "identitiesonly no\n" \
    "kbdinteractiveauthentication yes\n" \
    "nohostauthenticationforlocalhost no\n" \
    "passwordauthentication yes\n" \
    "permitlocalcommand no\n" \
    "proxyusefdpass no\n" \
    "pubkeyauthentication true\n" \
    "requesttty auto\n" \
    "sessiontype default\n" \
    "stdinnull no\n" \
    "forkafterauthentication no\n" \
    "streamlocalbindunlink no\n" \
    "stricthostkeychecking ask\n" \
    "tcpkeepalive yes\n" \
    "tunnel false\n" \
    "verifyhostkeydns false\n" \
    "visualhostkey no\n" \
    "updatehostkeys true\n" \
    "enableescapecommandline no\n" \
    "canonicalizemaxdots 1\n" \
    "connectionattempts 1\n" \
    "forwardx11timeout 1200\n" \
    "numberofpasswordprompts 3\n" \
    "serveralivecountmax 3\n"

/*
 * ssh 9.2's default algorithm lists, the same in every fixture; loglevel
 * stands between the two halves.
 */
#define G_ALGS_A \
    "ciphers chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-c" \
    "tr,aes128-gcm@openssh.com,aes256-gcm@openssh.com\n" \
    "hostkeyalgorithms ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp2" \
    "56-cert-v01@openssh.com,ecdsa-sha2-nistp384-cert-v01@openssh.com,ecd" \
    "sa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01@openss" \
    "h.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-" \
    "v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-" \
    "sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519" \
    "@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha" \
    "2-256\n" \
    "hostbasedacceptedalgorithms ssh-ed25519-cert-v01@openssh.com,ecdsa-s" \
    "ha2-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-cert-v01@opens" \
    "sh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-" \
    "v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2" \
    "-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25" \
    "519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-s" \
    "sh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-5" \
    "12,rsa-sha2-256\n" \
    "kexalgorithms sntrup761x25519-sha512,sntrup761x25519-sha512@openssh." \
    "com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp25" \
    "6,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchang" \
    "e-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512" \
    ",diffie-hellman-group14-sha256\n" \
    "casignaturealgorithms ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nis" \
    "tp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-n" \
    "istp256@openssh.com,rsa-sha2-512,rsa-sha2-256\n"

#define G_ALGS_B \
    "macs umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-" \
    "etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh." \
    "com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2" \
    "-512,hmac-sha1\n" \
    "securitykeyprovider internal\n" \
    "pubkeyacceptedalgorithms ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2" \
    "-nistp256-cert-v01@openssh.com,ecdsa-sha2-nistp384-cert-v01@openssh." \
    "com,ecdsa-sha2-nistp521-cert-v01@openssh.com,sk-ssh-ed25519-cert-v01" \
    "@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-51" \
    "2-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519" \
    ",ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-" \
    "ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512," \
    "rsa-sha2-256\n" \
    "xauthlocation /usr/bin/xauth\n"

/* What ssh 9.2 prints after the forwards, the same in every fixture. */
#define G_TAIL \
    "identityfile ~/.ssh/id_rsa\n" \
    "identityfile ~/.ssh/id_ecdsa\n" \
    "identityfile ~/.ssh/id_ecdsa_sk\n" \
    "identityfile ~/.ssh/id_ed25519\n" \
    "identityfile ~/.ssh/id_ed25519_sk\n" \
    "identityfile ~/.ssh/id_xmss\n" \
    "identityfile ~/.ssh/id_dsa\n" \
    "canonicaldomains none\n" \
    "globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hos" \
    "ts2\n" \
    "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n" \
    "sendenv LANG\n" \
    "sendenv LC_*\n" \
    "logverbose none\n" \
    "permitremoteopen any\n" \
    "addkeystoagent false\n" \
    "forwardagent no\n" \
    "connecttimeout none\n" \
    "tunneldevice any:any\n" \
    "canonicalizePermittedcnames none\n" \
    "controlpersist no\n" \
    "escapechar ~\n" \
    "ipqos lowdelay throughput\n" \
    "rekeylimit 0 0\n" \
    "streamlocalbindmask 0177\n" \
    "syslogfacility USER\n"

/* `ssh -G localhost` with no configuration but Debian's /etc/ssh. */
static const char g_default[] =
    "host localhost\n"
    "user root\n"
    "hostname localhost\n"
    "port 22\n"
    "addressfamily any\n"
    "batchmode no\n"
    G_SHARED
    "serveraliveinterval 0\n"
    "requiredrsasize 1024\n"
    G_ALGS_A
    "loglevel INFO\n"
    G_ALGS_B
    G_TAIL;

/*
 * `ssh -G -o ProxyJump=a -o ServerAliveInterval=30 -o ConnectTimeout=5
 * -o AddressFamily=inet6 -L 1:a:2 -R 3:b:4 -o BindAddress=10.0.0.1
 * -o ExitOnForwardFailure=yes -o SessionType=none localhost`
 */
static const char g_options[] =
    "host localhost\n"
    "user root\n"
    "hostname localhost\n"
    "port 22\n"
    "addressfamily inet6\n"
    "batchmode no\n"
    "canonicalizefallbacklocal yes\n"
    "canonicalizehostname false\n"
    "checkhostip no\n"
    "compression no\n"
    "controlmaster false\n"
    "enablesshkeysign no\n"
    "clearallforwardings no\n"
    "exitonforwardfailure yes\n"
    "fingerprinthash SHA256\n"
    "forwardx11 no\n"
    "forwardx11trusted yes\n"
    "gatewayports no\n"
    "gssapiauthentication yes\n"
    "gssapikeyexchange no\n"
    "gssapidelegatecredentials no\n"
    "gssapitrustdns no\n"
    "gssapirenewalforcesrekey no\n"
    "gssapikexalgorithms gss-group14-sha256-,gss-group16-sha512-,gss-nist"
    "p256-sha256-,gss-curve25519-sha256-,gss-group14-sha1-,gss-gex-sha1-"
    "\n"
    "hashknownhosts yes\n"
    "hostbasedauthentication no\n"
    "identitiesonly no\n"
    "kbdinteractiveauthentication yes\n"
    "nohostauthenticationforlocalhost no\n"
    "passwordauthentication yes\n"
    "permitlocalcommand no\n"
    "proxyusefdpass no\n"
    "pubkeyauthentication true\n"
    "requesttty auto\n"
    "sessiontype none\n"
    "stdinnull no\n"
    "forkafterauthentication no\n"
    "streamlocalbindunlink no\n"
    "stricthostkeychecking ask\n"
    "tcpkeepalive yes\n"
    "tunnel false\n"
    "verifyhostkeydns false\n"
    "visualhostkey no\n"
    "updatehostkeys true\n"
    "enableescapecommandline no\n"
    "canonicalizemaxdots 1\n"
    "connectionattempts 1\n"
    "forwardx11timeout 1200\n"
    "numberofpasswordprompts 3\n"
    "serveralivecountmax 3\n"
    "serveraliveinterval 30\n"
    "requiredrsasize 1024\n"
    "bindaddress 10.0.0.1\n"
    G_ALGS_A
    "loglevel INFO\n"
    G_ALGS_B
    "localforward 1 [a]:2\n"
    "remoteforward 3 [b]:4\n"
    "identityfile ~/.ssh/id_rsa\n"
    "identityfile ~/.ssh/id_ecdsa\n"
    "identityfile ~/.ssh/id_ecdsa_sk\n"
    "identityfile ~/.ssh/id_ed25519\n"
    "identityfile ~/.ssh/id_ed25519_sk\n"
    "identityfile ~/.ssh/id_xmss\n"
    "identityfile ~/.ssh/id_dsa\n"
    "canonicaldomains none\n"
    "globalknownhostsfile /etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hos"
    "ts2\n"
    "userknownhostsfile /root/.ssh/known_hosts /root/.ssh/known_hosts2\n"
    "sendenv LANG\n"
    "sendenv LC_*\n"
    "logverbose none\n"
    "permitremoteopen any\n"
    "addkeystoagent false\n"
    "forwardagent no\n"
    "connecttimeout 5\n"
    "tunneldevice any:any\n"
    "canonicalizePermittedcnames none\n"
    "controlpersist no\n"
    "escapechar ~\n"
    "ipqos lowdelay throughput\n"
    "rekeylimit 0 0\n"
    "streamlocalbindmask 0177\n"
    "syslogfacility USER\n"
    "proxyjump a\n";

/*
 * `ssh -G -o 'ProxyCommand=nc %h %p' -D 1080 -o BatchMode=yes
 * -o BindInterface=eth0 -o LogLevel=debug2 -p 2222 localhost`: Debian's
 * ssh sets ServerAliveInterval 300 itself in batch mode.
 */
static const char g_proxy[] =
    "host localhost\n"
    "user root\n"
    "hostname localhost\n"
    "port 2222\n"
    "addressfamily any\n"
    "batchmode yes\n"
    G_SHARED
    "serveraliveinterval 300\n"
    "requiredrsasize 1024\n"
    "bindinterface eth0\n"
    G_ALGS_A
    "loglevel DEBUG2\n"
    G_ALGS_B
    "dynamicforward 1080\n"
    G_TAIL
    "proxycommand nc %h %p\n";

static void
parse_ok(const char *text, struct sshcfg *c)
{
	char err[256];

	if (sshcfg_parse(text, c, err, sizeof(err)) != 0)
		fail_msg("sshcfg_parse failed: %s", err);
	assert_string_equal(err, "");
}

static void
test_real_default(void **state)
{
	struct sshcfg c;

	(void)state;
	/* Stale contents must not survive a parse. */
	memset(&c, 0x5a, sizeof(c));
	parse_ok(g_default, &c);
	assert_string_equal(c.hostname, "localhost");
	assert_int_equal(c.port, 22);
	assert_int_equal(c.family, AF_UNSPEC);
	assert_int_equal(c.connect_timeout_s, 0);
	assert_int_equal(c.alive_interval_s, 0);
	assert_int_equal(c.alive_count_max, 3);
	assert_int_equal(c.batchmode, 0);
	assert_int_equal(c.has_proxycommand, 0);
	assert_int_equal(c.has_proxyjump, 0);
	assert_int_equal(c.exit_on_forward_failure, 0);
	assert_int_equal(c.local_forwards, 0);
	assert_int_equal(c.remote_forwards, 0);
	assert_int_equal(c.dynamic_forwards, 0);
	assert_int_equal(c.session_none, 0);
	assert_string_equal(c.loglevel, "INFO");
	assert_string_equal(c.bind_address, "");
	assert_string_equal(c.bind_interface, "");
}

static void
test_real_options(void **state)
{
	struct sshcfg c;

	(void)state;
	parse_ok(g_options, &c);
	assert_string_equal(c.hostname, "localhost");
	assert_int_equal(c.port, 22);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.connect_timeout_s, 5);
	assert_int_equal(c.alive_interval_s, 30);
	assert_int_equal(c.alive_count_max, 3);
	assert_int_equal(c.batchmode, 0);
	assert_int_equal(c.has_proxycommand, 0);
	assert_int_equal(c.has_proxyjump, 1);
	assert_int_equal(c.exit_on_forward_failure, 1);
	assert_int_equal(c.local_forwards, 1);
	assert_int_equal(c.remote_forwards, 1);
	assert_int_equal(c.dynamic_forwards, 0);
	assert_int_equal(c.session_none, 1);
	assert_string_equal(c.loglevel, "INFO");
	assert_string_equal(c.bind_address, "10.0.0.1");
	assert_string_equal(c.bind_interface, "");
}

/* The LocalForward values are kept as printed, up to SSHCFG_FWD_MAX. */
static void
test_local_forward_values(void **state)
{
	char text[2048];
	struct sshcfg c;
	size_t n = 0;
	int i;

	(void)state;
	parse_ok(g_options, &c);
	assert_string_equal(c.local_forward[0], "1 [a]:2");
	parse_ok("hostname h\nlocalforward 22883 [localhost]:1883\n"
	    "localforward [127.0.0.2]:1000 [::1]:22\n"
	    "localforward /tmp/s [h]:3\n", &c);
	assert_int_equal(c.local_forwards, 3);
	assert_string_equal(c.local_forward[0], "22883 [localhost]:1883");
	assert_string_equal(c.local_forward[1], "[127.0.0.2]:1000 [::1]:22");
	assert_string_equal(c.local_forward[2], "/tmp/s [h]:3");
	/* More than SSHCFG_FWD_MAX: counted, the first ones kept. */
	n += (size_t)snprintf(text, sizeof(text), "hostname h\n");
	for (i = 0; i < SSHCFG_FWD_MAX + 2; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "localforward %d [h]:1\n", 1000 + i);
	parse_ok(text, &c);
	assert_int_equal(c.local_forwards, SSHCFG_FWD_MAX + 2);
	assert_string_equal(c.local_forward[SSHCFG_FWD_MAX - 1], "1007 [h]:1");
}

/*
 * The RemoteForward values as ssh -G 9.2 prints them (-R 2222:localhost:22
 * -R [::1]:2223:[::1]:23 -R 3333 -R /tmp/s:/tmp/t -R 4444:/tmp/u), kept
 * as printed up to SSHCFG_FWD_MAX; fwdcheck.c reads them.
 */
static void
test_remote_forward_values(void **state)
{
	char text[2048], v[200];
	struct sshcfg c;
	size_t n = 0;
	int i;

	(void)state;
	parse_ok(g_options, &c);
	assert_int_equal(c.remote_forwards, 1);
	assert_string_equal(c.remote_forward[0], "3 [b]:4");
	parse_ok("hostname h\nremoteforward 2222 [localhost]:22\n"
	    "remoteforward [::1]:2223 [::1]:23\n"
	    "remoteforward 3333 [socks]:0\n"
	    "remoteforward /tmp/s /tmp/t\n"
	    "remoteforward 4444 /tmp/u\n", &c);
	assert_int_equal(c.remote_forwards, 5);
	assert_int_equal(c.local_forwards, 0);
	assert_string_equal(c.remote_forward[0], "2222 [localhost]:22");
	assert_string_equal(c.remote_forward[1], "[::1]:2223 [::1]:23");
	assert_string_equal(c.remote_forward[2], "3333 [socks]:0");
	assert_string_equal(c.remote_forward[3], "/tmp/s /tmp/t");
	assert_string_equal(c.remote_forward[4], "4444 /tmp/u");
	/* Exactly SSHCFG_FWD_MAX: all kept. */
	n = (size_t)snprintf(text, sizeof(text), "hostname h\n");
	for (i = 0; i < SSHCFG_FWD_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "remoteforward %d [h]:1\n", 2000 + i);
	parse_ok(text, &c);
	assert_int_equal(c.remote_forwards, SSHCFG_FWD_MAX);
	assert_string_equal(c.remote_forward[SSHCFG_FWD_MAX - 1], "2007 [h]:1");
	/* Two more: counted, not kept, the first ones untouched. */
	for (i = SSHCFG_FWD_MAX; i < SSHCFG_FWD_MAX + 2; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "remoteforward %d [h]:1\n", 2000 + i);
	parse_ok(text, &c);
	assert_int_equal(c.remote_forwards, SSHCFG_FWD_MAX + 2);
	assert_string_equal(c.remote_forward[0], "2000 [h]:1");
	assert_string_equal(c.remote_forward[SSHCFG_FWD_MAX - 1], "2007 [h]:1");
	/* 159 bytes fit; 160 would be cut, so it is not kept at all. */
	for (i = 158; i <= 159; i++) {
		memset(v, 'a', sizeof(v));
		memcpy(v, "1 [", 3);
		memcpy(v + i - 4, "]:22", 5);
		assert_int_equal(strlen(v), (size_t)i);
		snprintf(text, sizeof(text), "hostname h\nremoteforward %s\n"
		    "localforward %s\n", v, v);
		parse_ok(text, &c);
		assert_string_equal(c.remote_forward[0], v);
		assert_string_equal(c.local_forward[0], v);
	}
	memset(v, 'a', sizeof(v));
	memcpy(v, "1 [", 3);
	memcpy(v + 160 - 4, "]:22", 5);
	assert_int_equal(strlen(v), 160);
	snprintf(text, sizeof(text), "hostname h\nremoteforward %s\n"
	    "localforward %s\n", v, v);
	parse_ok(text, &c);
	assert_int_equal(c.remote_forwards, 1);
	assert_string_equal(c.remote_forward[0], "");
	assert_string_equal(c.local_forward[0], "");
}

static void
test_real_proxy(void **state)
{
	struct sshcfg c;

	(void)state;
	parse_ok(g_proxy, &c);
	assert_string_equal(c.hostname, "localhost");
	assert_int_equal(c.port, 2222);
	assert_int_equal(c.family, AF_UNSPEC);
	assert_int_equal(c.alive_interval_s, 300);
	assert_int_equal(c.batchmode, 1);
	assert_int_equal(c.has_proxycommand, 1);
	assert_int_equal(c.has_proxyjump, 0);
	assert_int_equal(c.dynamic_forwards, 1);
	assert_int_equal(c.local_forwards, 0);
	assert_int_equal(c.remote_forwards, 0);
	assert_string_equal(c.loglevel, "DEBUG2");
	assert_string_equal(c.bind_interface, "eth0");
	assert_string_equal(c.bind_address, "");
}

static void
test_defaults_when_missing(void **state)
{
	struct sshcfg c;

	(void)state;
	memset(&c, 0x5a, sizeof(c));
	parse_ok("hostname h.example\n", &c);
	assert_string_equal(c.hostname, "h.example");
	assert_int_equal(c.port, 22);
	assert_int_equal(c.family, AF_UNSPEC);
	assert_int_equal(c.connect_timeout_s, 0);
	assert_int_equal(c.alive_interval_s, 0);
	assert_int_equal(c.alive_count_max, 3);
	assert_int_equal(c.batchmode, 0);
	assert_int_equal(c.has_proxycommand, 0);
	assert_int_equal(c.has_proxyjump, 0);
	assert_int_equal(c.exit_on_forward_failure, 0);
	assert_int_equal(c.local_forwards + c.remote_forwards +
	    c.dynamic_forwards, 0);
	assert_int_equal(c.session_none, 0);
	assert_string_equal(c.loglevel, "INFO");
	assert_string_equal(c.bind_address, "");
	assert_string_equal(c.bind_interface, "");
}

/* Which field a row checks, by name. */
enum field {
	F_PORT, F_FAMILY, F_CTIMEOUT, F_ALIVE, F_COUNT, F_BATCH, F_PCMD,
	F_PJUMP, F_EOFF, F_LFWD, F_RFWD, F_DFWD, F_SESSION, F_HOST_OK,
	F_NONE
};

static int
field_of(const struct sshcfg *c, enum field f)
{
	switch (f) {
	case F_PORT:	return c->port;
	case F_FAMILY:	return c->family;
	case F_CTIMEOUT: return c->connect_timeout_s;
	case F_ALIVE:	return c->alive_interval_s;
	case F_COUNT:	return c->alive_count_max;
	case F_BATCH:	return c->batchmode;
	case F_PCMD:	return c->has_proxycommand;
	case F_PJUMP:	return c->has_proxyjump;
	case F_EOFF:	return c->exit_on_forward_failure;
	case F_LFWD:	return c->local_forwards;
	case F_RFWD:	return c->remote_forwards;
	case F_DFWD:	return c->dynamic_forwards;
	case F_SESSION:	return c->session_none;
	case F_HOST_OK:	return c->hostname[0] != '\0';
	case F_NONE:	return 0;
	}
	return -1;
}

struct row {
	const char	*name;
	const char	*text;		/* after "hostname h\n" */
	int		 rc;
	enum field	 field;
	int		 want;		/* the field when rc is 0 */
	const char	*err;		/* in errbuf when rc is -1 */
};

#define RANGE_MAX	(86400 * 365)

static const struct row rows[] = {
	/* port: 1..65535 */
	{ "port 0", "port 0\n", -1, F_PORT, 0, "port: '0' is out of range" },
	{ "port 1", "port 1\n", 0, F_PORT, 1, NULL },
	{ "port 65535", "port 65535\n", 0, F_PORT, 65535, NULL },
	{ "port 65536", "port 65536\n", -1, F_PORT, 0, "65536" },
	{ "port -1", "port -1\n", -1, F_PORT, 0, "port:" },
	{ "port garbage", "port 22x\n", -1, F_PORT, 0, "not a number" },
	{ "port hex", "port 0x16\n", -1, F_PORT, 0, "port:" },
	{ "port empty", "port \n", -1, F_PORT, 0, "empty" },
	{ "port blank before", "port  22\n", -1, F_PORT, 0, "port:" },
	{ "port huge", "port 99999999999999999999999\n", -1, F_PORT, 0,
	    "port:" },
	/* serveraliveinterval: 0..365 days */
	{ "alive 0", "serveraliveinterval 0\n", 0, F_ALIVE, 0, NULL },
	{ "alive 30", "serveraliveinterval 30\n", 0, F_ALIVE, 30, NULL },
	{ "alive max", "serveraliveinterval 31536000\n", 0, F_ALIVE,
	    RANGE_MAX, NULL },
	{ "alive max+1", "serveraliveinterval 31536001\n", -1, F_ALIVE, 0,
	    "serveraliveinterval: '31536001' is out of range" },
	{ "alive -1", "serveraliveinterval -1\n", -1, F_ALIVE, 0,
	    "serveraliveinterval" },
	{ "alive garbage", "serveraliveinterval 30s\n", -1, F_ALIVE, 0,
	    "not a number" },
	{ "alive empty", "serveraliveinterval \n", -1, F_ALIVE, 0, "empty" },
	/* serveralivecountmax: 0..1000000 */
	{ "count 0", "serveralivecountmax 0\n", 0, F_COUNT, 0, NULL },
	{ "count max", "serveralivecountmax 1000000\n", 0, F_COUNT, 1000000,
	    NULL },
	{ "count max+1", "serveralivecountmax 1000001\n", -1, F_COUNT, 0,
	    "serveralivecountmax" },
	{ "count garbage", "serveralivecountmax three\n", -1, F_COUNT, 0,
	    "not a number" },
	{ "count empty", "serveralivecountmax \n", -1, F_COUNT, 0, "empty" },
	/* connecttimeout: "none" or 0..365 days */
	{ "connecttimeout none", "connecttimeout none\n", 0, F_CTIMEOUT, 0,
	    NULL },
	{ "connecttimeout 0", "connecttimeout 0\n", 0, F_CTIMEOUT, 0, NULL },
	{ "connecttimeout 5", "connecttimeout 5\n", 0, F_CTIMEOUT, 5, NULL },
	{ "connecttimeout max", "connecttimeout 31536000\n", 0, F_CTIMEOUT,
	    RANGE_MAX, NULL },
	{ "connecttimeout max+1", "connecttimeout 31536001\n", -1,
	    F_CTIMEOUT, 0, "connecttimeout" },
	{ "connecttimeout garbage", "connecttimeout never\n", -1, F_CTIMEOUT,
	    0, "not a number" },
	{ "connecttimeout empty", "connecttimeout \n", -1, F_CTIMEOUT, 0,
	    "empty" },
	/* address family */
	{ "family inet", "addressfamily inet\n", 0, F_FAMILY, AF_INET, NULL },
	{ "family inet6", "addressfamily inet6\n", 0, F_FAMILY, AF_INET6,
	    NULL },
	{ "family any", "addressfamily any\n", 0, F_FAMILY, AF_UNSPEC, NULL },
	{ "family garbage", "addressfamily ipx\n", 0, F_FAMILY, AF_UNSPEC,
	    NULL },
	/* flags */
	{ "batchmode yes", "batchmode yes\n", 0, F_BATCH, 1, NULL },
	{ "batchmode true", "batchmode true\n", 0, F_BATCH, 1, NULL },
	{ "batchmode no", "batchmode no\n", 0, F_BATCH, 0, NULL },
	{ "proxycommand none", "proxycommand none\n", 0, F_PCMD, 0, NULL },
	{ "proxycommand set", "proxycommand ssh -W %h:%p bastion\n", 0,
	    F_PCMD, 1, NULL },
	{ "proxyjump none", "proxyjump none\n", 0, F_PJUMP, 0, NULL },
	{ "proxyjump set", "proxyjump u@bastion:2222,other\n", 0, F_PJUMP, 1,
	    NULL },
	{ "exitonforwardfailure yes", "exitonforwardfailure yes\n", 0,
	    F_EOFF, 1, NULL },
	{ "exitonforwardfailure no", "exitonforwardfailure no\n", 0, F_EOFF,
	    0, NULL },
	{ "sessiontype none", "sessiontype none\n", 0, F_SESSION, 1, NULL },
	{ "sessiontype subsystem", "sessiontype subsystem\n", 0, F_SESSION, 0,
	    NULL },
	/* forwards are counted, one per line */
	{ "three localforwards", "localforward 1 [a]:2\nlocalforward 3 [b]:4\n"
	    "localforward [::1]:5 /tmp/sock\n", 0, F_LFWD, 3, NULL },
	{ "two remoteforwards", "remoteforward 3 [b]:4\nremoteforward 2222 "
	    "[localhost]:22\n", 0, F_RFWD, 2, NULL },
	{ "one dynamicforward", "dynamicforward 1080\n", 0, F_DFWD, 1, NULL },
	/* host names */
	{ "hostname with a space", "hostname bad host\n", -1, F_NONE, 0,
	    "unusable host name" },
	{ "hostname with a tab", "hostname bad\thost\n", -1, F_NONE, 0,
	    "unusable host name" },
	{ "hostname with ESC", "hostname bad\033[2Jhost\n", -1, F_NONE, 0,
	    "unusable host name" },
	{ "hostname with DEL", "hostname bad\177\n", -1, F_NONE, 0,
	    "unusable host name" },
	{ "hostname with CR", "hostname host\r\n", -1, F_NONE, 0,
	    "unusable host name" },
	{ "hostname IPv6", "hostname fd00::1\n", 0, F_HOST_OK, 1, NULL },
	{ "hostname empty", "hostname \n", -1, F_NONE, 0, "no host name" },
	/* malformed lines */
	{ "line without a space", "port\nbatchmode\n", 0, F_PORT, 22, NULL },
	{ "blank lines", "\n\n\nport 2200\n\n", 0, F_PORT, 2200, NULL },
	{ "key alone at the end", "port", 0, F_PORT, 22, NULL },
	{ "no trailing newline", "port 2200", 0, F_PORT, 2200, NULL },
	{ "upper-case key is not ours", "Port 2200\n", 0, F_PORT, 22, NULL },
	{ "unknown keys ignored", "frobnicate 7\nport 2200\nzzz\n", 0, F_PORT,
	    2200, NULL },
};

static void
test_row(void **state)
{
	const struct row *r = *state;
	char text[1024], err[256];
	struct sshcfg c;
	int rc;

	snprintf(text, sizeof(text), "host h\nhostname h\n%s", r->text);
	/* A host name row replaces the default one. */
	if (strncmp(r->text, "hostname ", 9) == 0)
		snprintf(text, sizeof(text), "host h\n%s", r->text);
	memset(err, 'X', sizeof(err));
	rc = sshcfg_parse(text, &c, err, sizeof(err));
	if (rc != r->rc)
		fail_msg("rc %d, want %d (err '%s')", rc, r->rc, err);
	if (rc == 0) {
		assert_string_equal(err, "");
		assert_int_equal(field_of(&c, r->field), r->want);
	} else {
		assert_non_null(memchr(err, '\0', sizeof(err)));
		if (strstr(err, r->err) == NULL)
			fail_msg("err '%s' lacks '%s'", err, r->err);
	}
}

static void
test_no_hostname(void **state)
{
	char err[256];
	struct sshcfg c;

	(void)state;
	assert_int_equal(sshcfg_parse("", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no host name"));
	assert_int_equal(sshcfg_parse("host x\nport 22\nuser u\n", &c, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no host name"));
	/* "host" is the pattern, not the name: only "hostname" counts. */
	assert_int_equal(sshcfg_parse("host x", &c, err, sizeof(err)), -1);
}

static void
test_hostname_lengths(void **state)
{
	char text[600], err[256];
	struct sshcfg c;

	(void)state;
	/* 255 characters fit the 256-byte field. */
	memcpy(text, "hostname ", 9);
	memset(text + 9, 'a', 255);
	text[9 + 255] = '\0';
	assert_int_equal(sshcfg_parse(text, &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(c.hostname), 255);
	/* 256 do not, and a truncated name would be someone else's. */
	memset(text + 9, 'a', 256);
	text[9 + 256] = '\0';
	assert_int_equal(sshcfg_parse(text, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unusable host name"));
}

static void
test_overlong_ignored(void **state)
{
	static char text[4096];
	struct sshcfg c;
	size_t o = 0;

	(void)state;
	/* A 31-byte key fits the parser's buffer, a 32-byte one does not. */
	o += (size_t)snprintf(text + o, sizeof(text) - o,
	    "hostname good\nport 2200\n");
	memset(text + o, 'k', 40);
	o += 40;
	o += (size_t)snprintf(text + o, sizeof(text) - o, " 1\n");
	/* A value of 600 bytes: "port <600 digits>" is skipped, not read. */
	o += (size_t)snprintf(text + o, sizeof(text) - o, "port ");
	memset(text + o, '7', 600);
	o += 600;
	o += (size_t)snprintf(text + o, sizeof(text) - o, "\nhostname ");
	memset(text + o, 'h', 700);
	o += 700;
	o += (size_t)snprintf(text + o, sizeof(text) - o, "\nbatchmode yes");
	assert_true(o < sizeof(text));
	parse_ok(text, &c);
	assert_string_equal(c.hostname, "good");
	assert_int_equal(c.port, 2200);
	assert_int_equal(c.batchmode, 1);
}

static void
test_overlong_value_only_name(void **state)
{
	static char text[2048];
	char err[256];
	struct sshcfg c;

	(void)state;
	/* The only host name is too long to read: that is "no host name". */
	memcpy(text, "hostname ", 9);
	memset(text + 9, 'h', 1000);
	text[1009] = '\0';
	assert_int_equal(sshcfg_parse(text, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no host name"));
}

static void
test_long_fields_truncated(void **state)
{
	char text[1024];
	struct sshcfg c;

	(void)state;
	/* Display-only strings are cut to their buffers, terminated. */
	snprintf(text, sizeof(text), "hostname h\nloglevel "
	    "QUITE_A_VERY_LONG_LEVEL_NAME\nbindinterface "
	    "an-interface-name-longer-than-thirty-two\nbindaddress "
	    "0123456789012345678901234567890123456789012345678901234567890123"
	    "456789\n");
	parse_ok(text, &c);
	assert_int_equal(strlen(c.loglevel), sizeof(c.loglevel) - 1);
	assert_int_equal(strlen(c.bind_interface), sizeof(c.bind_interface) -
	    1);
	assert_int_equal(strlen(c.bind_address), sizeof(c.bind_address) - 1);
}

static void
test_small_errbuf(void **state)
{
	char err[8];
	struct sshcfg c;

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(sshcfg_parse("hostname h\nport 0\n", &c, err,
	    sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_memory_equal(err, "ssh -G:", 7);
}

static void
test_every_prefix(void **state)
{
	size_t n = strlen(g_options), i;
	char err[256];

	(void)state;
	/*
	 * ssh killed mid-output: every prefix parses or fails cleanly.  Each
	 * copy is exactly sized so that ASan sees any read past its end.
	 */
	for (i = 0; i <= n; i++) {
		char *p = malloc(i + 1);
		struct sshcfg c;
		int rc, whole_lines;

		assert_non_null(p);
		memcpy(p, g_options, i);
		p[i] = '\0';
		whole_lines = i > 0 && p[i - 1] == '\n';
		rc = sshcfg_parse(p, &c, err, sizeof(err));
		free(p);
		if (rc == 0)
			assert_true(c.hostname[0] != '\0');
		else
			assert_true(err[0] != '\0');
		/* Whole lines after "hostname localhost" always parse. */
		if (whole_lines && i >= strlen("host localhost\nuser root\n"
		    "hostname localhost\n"))
			assert_int_equal(rc, 0);
	}
}

/* ---- sshcfg_load() against a fake ssh ---- */

struct fake {
	char	dir[64];
	char	ssh[96];
};

/* The current test's fake ssh; the teardown removes it even on failure. */
static struct fake fk;

static const char script[] =
    "#!/bin/sh\n"
    "d=$(dirname \"$0\")\n"
    "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$d/args\"\n"
    "[ -f \"$d/out\" ] && cat \"$d/out\"\n"
    "[ -f \"$d/err\" ] && cat \"$d/err\" >&2\n"
    "[ -f \"$d/extra\" ] && . \"$d/extra\"\n"
    "exit $(cat \"$d/rc\")\n";

static void
write_file(const char *dir, const char *name, const char *text, int mode)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
}

static void
fake_setup(struct fake *f, const char *out, const char *err, int rc,
    const char *extra)
{
	char num[16];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sshcfg.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->ssh, sizeof(f->ssh), "%s/ssh", f->dir);
	write_file(f->dir, "ssh", script, 0755);
	if (out != NULL)
		write_file(f->dir, "out", out, 0644);
	if (err != NULL)
		write_file(f->dir, "err", err, 0644);
	if (extra != NULL)
		write_file(f->dir, "extra", extra, 0644);
	snprintf(num, sizeof(num), "%d\n", rc);
	write_file(f->dir, "rc", num, 0644);
}

static void
fake_args(const struct fake *f, char *buf, size_t len)
{
	char path[160];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/args", f->dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

static int
fake_teardown(void **state)
{
	static const char *const files[] = { "ssh", "out", "err", "extra",
	    "rc", "args" };
	char path[160];
	size_t i;
	int rc;

	(void)state;
	if (fk.dir[0] == '\0')
		return 0;
	for (i = 0; i < NROWS(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", fk.dir, files[i]);
		unlink(path);
	}
	rc = rmdir(fk.dir);
	fk.dir[0] = '\0';
	return rc;
}

static void
test_load_ok(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"-o",
	    (char *)"ServerAliveInterval=30", (char *)"-p", (char *)"2222",
	    (char *)"user@host", (char *)"uptime", NULL };
	char err[256], args[512];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	fake_setup(f, g_options, NULL, 0, NULL);
	/* argc stops before the remote command. */
	assert_int_equal(sshcfg_load(f->ssh, argv, 6, &c, err, sizeof(err)),
	    0);
	assert_string_equal(c.hostname, "localhost");
	assert_int_equal(c.alive_interval_s, 30);
	assert_int_equal(c.has_proxyjump, 1);
	assert_int_equal(c.family, AF_INET6);
	fake_args(f, args, sizeof(args));
	assert_string_equal(args, "-G\n-o\nServerAliveInterval=30\n-p\n2222\n"
	    "user@host\n");
}

static void
test_load_rejected(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"-o", (char *)"foo=bar",
	    (char *)"host", NULL };
	char err[256];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	fake_setup(f, NULL, "Pseudo-terminal will not be allocated because "
	    "stdin is not a terminal.\ncommand-line line 0: Bad configuration "
	    "option: foo\n\n", 255, NULL);
	assert_int_equal(sshcfg_load(f->ssh, argv, 4, &c, err, sizeof(err)),
	    -1);
	if (strstr(err, "command-line line 0: Bad configuration option: foo")
	    == NULL)
		fail_msg("errbuf '%s' lacks ssh's last line", err);
	/* Only the last line: the earlier chatter is not the reason. */
	assert_null(strstr(err, "Pseudo-terminal"));
	assert_null(strchr(err, '\n'));
}

static void
test_load_rejected_after_many_warnings(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256], warnings[4096];
	struct sshcfg c;
	struct fake *f = &fk;
	size_t o = 0;
	int i;

	(void)state;
	/*
	 * An old ~/.ssh/config draws one warning per deprecated option
	 * before the fatal line; the reason is still the last line.
	 */
	for (i = 0; i < 40; i++)
		o += (size_t)snprintf(warnings + o, sizeof(warnings) - o,
		    "/root/.ssh/config line %d: Deprecated option "
		    "\"useroaming\"\n", i + 1);
	snprintf(warnings + o, sizeof(warnings) - o, "/root/.ssh/config: "
	    "line 99: Bad configuration option: hostnmae\n");
	fake_setup(f, NULL, warnings, 255, NULL);
	assert_int_equal(sshcfg_load(f->ssh, argv, 2, &c, err, sizeof(err)),
	    -1);
	if (strstr(err, "Bad configuration option: hostnmae") == NULL)
		fail_msg("errbuf '%s' lacks ssh's last line", err);
}

static void
test_load_silent_failure(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	fake_setup(f, g_default, NULL, 1, NULL);
	assert_int_equal(sshcfg_load(f->ssh, argv, 2, &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no reason given"));
}

static void
test_load_killed(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	/* Output complete, then death by signal: still a failure. */
	fake_setup(f, g_default, NULL, 0, "kill -9 $$\n");
	assert_int_equal(sshcfg_load(f->ssh, argv, 2, &c, err, sizeof(err)),
	    -1);
	assert_true(err[0] != '\0');
}

static void
test_load_no_hostname(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	fake_setup(f, "user root\nport 22\n", NULL, 0, NULL);
	assert_int_equal(sshcfg_load(f->ssh, argv, 2, &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no host name"));
}

static void
test_load_flood(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256];
	struct sshcfg c;
	struct fake *f = &fk;

	(void)state;
	/*
	 * More output than the 256 KiB cap on both streams: the rest is
	 * drained (ssh never blocks on a full pipe) and what was kept parses.
	 */
	fake_setup(f, "hostname flood.example\nport 2022\n", NULL, 0,
	    "i=0; while [ $i -lt 6000 ]; do echo \"padding$i "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; "
	    "echo \"stderr chatter $i\" >&2; i=$((i+1)); done\n");
	assert_int_equal(sshcfg_load(f->ssh, argv, 2, &c, err, sizeof(err)),
	    0);
	assert_string_equal(c.hostname, "flood.example");
	assert_int_equal(c.port, 2022);
}

static void
test_load_no_such_program(void **state)
{
	char *const argv[] = { (char *)"ssh", (char *)"host", NULL };
	char err[256];
	struct sshcfg c;

	(void)state;
	assert_int_equal(sshcfg_load("/nonexistent/autossh-test/ssh", argv, 2,
	    &c, err, sizeof(err)), -1);
	if (strstr(err, "/nonexistent/autossh-test/ssh") == NULL ||
	    strstr(err, "No such file or directory") == NULL)
		fail_msg("errbuf '%s' does not name the program and why", err);
}

static void
add_load_test(const char *name, CMUnitTestFunction fn)
{
	add_test(name, fn, NULL);
	tests[ntests - 1].teardown_func = fake_teardown;
}

int
main(void)
{
	size_t i;

	add_test("real ssh -G: defaults", test_real_default, NULL);
	add_test("real ssh -G: options and forwards", test_real_options,
	    NULL);
	add_test("LocalForward values", test_local_forward_values, NULL);
	add_test("RemoteForward values", test_remote_forward_values, NULL);
	add_test("real ssh -G: ProxyCommand, BatchMode, -D",
	    test_real_proxy, NULL);
	add_test("missing keys keep ssh's defaults",
	    test_defaults_when_missing, NULL);
	for (i = 0; i < NROWS(rows); i++)
		add_test(pool_name("row: %s", rows[i].name), test_row,
		    (void *)&rows[i]);
	add_test("no hostname is an error", test_no_hostname, NULL);
	add_test("hostname of 255 and 256 bytes", test_hostname_lengths,
	    NULL);
	add_test("over-long keys and values are skipped",
	    test_overlong_ignored, NULL);
	add_test("an over-long hostname is no hostname",
	    test_overlong_value_only_name, NULL);
	add_test("long display fields are truncated",
	    test_long_fields_truncated, NULL);
	add_test("a small errbuf is terminated", test_small_errbuf, NULL);
	add_test("every prefix of real output", test_every_prefix, NULL);
	add_load_test("load: fake ssh, options passed with -G", test_load_ok);
	add_load_test("load: ssh rejects, its last line is the reason",
	    test_load_rejected);
	add_load_test("load: the last line after 2 KB of warnings",
	    test_load_rejected_after_many_warnings);
	add_load_test("load: non-zero exit without a word",
	    test_load_silent_failure);
	add_load_test("load: killed by a signal", test_load_killed);
	add_load_test("load: output without a hostname",
	    test_load_no_hostname);
	add_load_test("load: output beyond the cap is drained",
	    test_load_flood);
	add_load_test("load: the program does not exist",
	    test_load_no_such_program);
	return unit_run("test_sshcfg", NULL,
	    NULL);
}
