# shellcheck shell=bash
#
# Sourced by scripts/test and scripts/services; not meant to be run directly.
#
# Installs (from Debian packages) and starts, on loopback only, the services
# the helpmesh test suite talks to, then exports the HELPMESH_TEST_* variables
# that internal/testenv reads:
#
#   PostgreSQL  throwaway cluster, 127.0.0.1:55432, trust auth, fsync off
#   Postfix     127.0.0.1:25; mail to @helpmesh.test is relayed to
#               127.0.0.1:2526 (helpmesh's inbound SMTP listener during tests),
#               mail to @localhost / @mail.helpmesh.test is delivered to Maildir
#   Dovecot     IMAP on 127.0.0.1:143, plaintext login, users hmtest, hmstaff
#   Chromium    /usr/bin/chromium (for the browser tests)
#   Redmine 5   127.0.0.1:3055, Passenger Standalone (scripts/lib/redmine5.sh)
#   RT 5        Request Tracker on 127.0.0.1:55480 (scripts/lib/rt5.sh)
#   statuspage.io  the npm Statuspage client (3.3.8) under
#               $HM_STATE_DIR/statuspage-client, run with node, for the status
#               page's compatibility test (apptest TestStatuspageClient)
#   podman      /usr/bin/podman with the runc runtime (for the container
#               image test, cmd/helpmesh TestContainerImage); no daemon
#
# Must run as root on Debian 12. Idempotent: a second run reuses what is
# already installed and running. Progress goes to stderr; stdout is kept free
# for the export lines of scripts/services.

HM_STATE_DIR=${HELPMESH_TEST_STATE_DIR:-/tmp/helpmesh-test}
HM_PG_DIR=${HELPMESH_TEST_PG_DIR:-/tmp/helpmesh-test-pg}
HM_PG_PORT=55432
HM_SMTP_PORT=25
HM_IMAP_PORT=143
HM_INBOUND_ADDR=127.0.0.1:2526
HM_RELAY_DOMAIN=helpmesh.test
HM_LOCAL_DOMAIN=localhost
HM_MTA_HOSTNAME=mta.helpmesh.test
HM_MAIL_USERS=(hmtest:hmtest-pass hmstaff:hmstaff-pass)
HM_CHROMIUM=/usr/bin/chromium
HM_PODMAN=/usr/bin/podman
HM_STATUSPAGE_CLIENT=statuspage.io@3.3.8
HM_PACKAGES=(postgresql postfix dovecot-imapd chromium swaks)
HM_POSTFIX_LOG=/var/log/helpmesh-test-postfix.log
HM_DOVECOT_LOG=/var/log/helpmesh-test-dovecot.log

# The variables exported for the tests, in the order scripts/services prints them.
HM_ENV_VARS=(
	HELPMESH_TEST_POSTGRES_DSN
	HELPMESH_TEST_MTA
	HELPMESH_TEST_RELAY_DOMAIN
	HELPMESH_TEST_INBOUND_ADDR
	HELPMESH_TEST_IMAP
	HELPMESH_TEST_IMAP_USERS
	HELPMESH_TEST_LOCAL_DOMAIN
	HELPMESH_TEST_CHROMIUM
	HELPMESH_TEST_PODMAN
	HELPMESH_TEST_STATUSPAGE_CLIENT
	HELPMESH_TEST_REDMINE5_URL
	HELPMESH_TEST_REDMINE5_KEY
	HELPMESH_TEST_REDMINE5_OTHER_KEY
	HELPMESH_TEST_REDMINE5_PROJECT
	HELPMESH_TEST_REDMINE5_TRACKER
	HELPMESH_TEST_RT5_URL
	HELPMESH_TEST_RT5_TOKEN
	HELPMESH_TEST_RT5_ROOT_TOKEN
	HELPMESH_TEST_RT5_QUEUE
)

# shellcheck source=scripts/lib/redmine5.sh
source "$(dirname "${BASH_SOURCE[0]}")/redmine5.sh"
# shellcheck source=scripts/lib/rt5.sh
source "$(dirname "${BASH_SOURCE[0]}")/rt5.sh"

hm_log() { printf '    %s\n' "$*" >&2; }

hm_die() {
	printf '\nservices: ERROR: %s\n' "$*" >&2
	exit 1
}

# hm_die_log MESSAGE FILE...: fail, showing the end of the given log files.
hm_die_log() {
	local msg=$1 f
	shift
	for f in "$@"; do
		[[ -s $f ]] || continue
		printf '\n----- last lines of %s -----\n' "$f" >&2
		tail -n 40 "$f" >&2
	done
	hm_die "$msg"
}

hm_now() { date +%s%N; }

# hm_elapsed START_NS: seconds since START_NS, one decimal.
hm_elapsed() {
	local ns=$(($(date +%s%N) - $1))
	printf '%d.%d' $((ns / 1000000000)) $((ns % 1000000000 / 100000000))
}

# hm_quiet LOG CMD...: run a command that may leave a daemon behind, with no
# terminal/pipe attached (a daemon inheriting our stdout or stderr makes
# `$(scripts/services)` or a CI log pipe hang) and without our lock fd.
hm_quiet() {
	local log=$1
	shift
	"$@" </dev/null >>"$log" 2>&1 9>&-
}

# hm_port_open HOST PORT: true if something accepts TCP connections there.
hm_port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# hm_wait_port HOST PORT SECONDS
hm_wait_port() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		hm_port_open "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

# hm_wait_port_closed HOST PORT SECONDS
hm_wait_port_closed() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		hm_port_open "$1" "$2" || return 0
		sleep 0.1
	done
	return 1
}

hm_pkg_installed() {
	local st
	st=$(dpkg -s "$1" 2>/dev/null) || return 1
	[[ $st == *$'\nStatus: install ok installed\n'* || $st == $'Status: install ok installed\n'* ]]
}

# ---------------------------------------------------------------- packages

hm_install_packages() {
	# postfix conflicts with exim4 (preinstalled on some images): apt removes
	# the package, but with policy-rc.d a running exim would keep port 25.
	if ! hm_pkg_installed postfix && [[ -x /etc/init.d/exim4 ]]; then
		hm_quiet "$HM_STATE_DIR/apt.log" service exim4 stop || true
	fi
	hm_apt_install packages "$HM_STATE_DIR/apt.log" "${HM_PACKAGES[@]}" <<-EOF
		postfix postfix/main_mailer_type select Local only
		postfix postfix/mailname string $HM_RELAY_DOMAIN
	EOF
}

# hm_apt_install LABEL LOG PACKAGE... <PRESEED: install those of the
# packages that are missing (apt-get update and install, logged to LOG)
# and check that they are installed. Standard input holds debconf answers
# (debconf-set-selections), read only when something is to be installed
# (the debconf database is locked while another apt runs). Waits up to 15 min for the dpkg lock: another set-up
# may be installing at the same time.
hm_apt_install() {
	local label=$1 log=$2 missing=() p
	shift 2
	for p in "$@"; do
		hm_pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		hm_log "$label: $* already installed"
		return 0
	fi
	hm_log "$label: installing ${missing[*]} (log: $log)"
	: >"$log"
	export DEBIAN_FRONTEND=noninteractive
	debconf-set-selections || hm_die "debconf-set-selections ($label) failed"
	local apt_opts=(-q -o DPkg::Lock::Timeout=900
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	hm_quiet "$log" apt-get "${apt_opts[@]}" update ||
		hm_die_log "apt-get update failed" "$log"
	hm_quiet "$log" apt-get "${apt_opts[@]}" install -y "${missing[@]}" ||
		hm_die_log "apt-get install ${missing[*]} failed" "$log"
	for p in "${missing[@]}"; do
		hm_pkg_installed "$p" || hm_die_log "package $p is still not installed" "$log"
	done
}

# ---------------------------------------------------------------- PostgreSQL

hm_pg_bin() {
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	[[ -n $d && -x $d/initdb && -x $d/pg_ctl ]] ||
		hm_die "no PostgreSQL server binaries under /usr/lib/postgresql (is the postgresql package installed?)"
	printf '%s\n' "$d"
}

# Run as the postgres user, from a directory it can read.
hm_as_postgres() { (cd / && runuser -u postgres -- "$@"); }

hm_pg_conf() {
	cat <<-EOF
		# --- helpmesh scripts/lib/services.sh: throwaway test cluster ---
		listen_addresses = '127.0.0.1'
		port = $HM_PG_PORT
		unix_socket_directories = '$HM_PG_DIR'
		max_connections = 200
		fsync = off
		synchronous_commit = off
		full_page_writes = off
	EOF
}

hm_pg_ready() {
	"$1/pg_isready" -q -h 127.0.0.1 -p "$HM_PG_PORT" -t 10 &&
		[[ $(psql -X -q -tA -h 127.0.0.1 -p "$HM_PG_PORT" -U postgres -d postgres \
			-c 'SELECT 1' </dev/null 2>/dev/null) == 1 ]]
}

# Stop a postmaster of ours whose data directory is gone or unusable (found
# by its command line: <bin>/postgres -D $HM_PG_DIR/data).
hm_pg_kill_orphans() {
	local f pid a0 a1 a2
	for f in /proc/[0-9]*/cmdline; do
		a0='' a1='' a2=''
		{ { IFS= read -r -d '' a0 && IFS= read -r -d '' a1 && IFS= read -r -d '' a2; } <"$f"; } 2>/dev/null || true
		[[ $a0 == */postgres && $a1 == -D && $a2 == "$HM_PG_DIR/data" ]] || continue
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		hm_log "postgres: stopping leftover postmaster pid $pid"
		hm_stop_pid INT "$pid"
	done
	return 0
}

# hm_stop_pid SIGNAL PID: send SIGNAL to PID, wait up to 10 s for it to
# end, then kill it.
hm_stop_pid() {
	local i
	kill -"$1" "$2" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		[[ -e /proc/$2 ]] || return 0
		sleep 0.1
	done
	kill -KILL "$2" 2>/dev/null || true
}

hm_pg_up() {
	# setup: our output (root's file); log: the server's own (postgres's file)
	local bin data=$HM_PG_DIR/data conf stamp setup=$HM_STATE_DIR/postgres-setup.log log=$HM_PG_DIR/postgres.log
	bin=$(hm_pg_bin) || exit 1
	conf=$(hm_pg_conf)
	stamp=$(printf '%s\n%s\n' "$bin" "$conf" | md5sum)
	stamp=${stamp%% *}

	if [[ -f $data/PG_VERSION ]] && hm_as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		if [[ $(cat "$HM_PG_DIR/stamp" 2>/dev/null) == "$stamp" ]] && hm_pg_ready "$bin"; then
			hm_log "postgres: reusing running cluster $data on 127.0.0.1:$HM_PG_PORT"
			return 0
		fi
		hm_log "postgres: running cluster is stale or unresponsive, recreating it"
		hm_quiet /dev/null hm_as_postgres "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop || true
	fi
	hm_pg_kill_orphans
	if hm_port_open 127.0.0.1 "$HM_PG_PORT"; then
		hm_die "port $HM_PG_PORT is in use by something that is not this script's cluster ($data)"
	fi

	hm_log "postgres: creating throwaway cluster in $HM_PG_DIR"
	rm -rf "$HM_PG_DIR"
	mkdir -p "$HM_PG_DIR" || hm_die "cannot create $HM_PG_DIR"
	if ! chown postgres:postgres "$HM_PG_DIR" || ! chmod 700 "$HM_PG_DIR"; then
		hm_die "cannot chown $HM_PG_DIR"
	fi
	: >"$setup"
	hm_quiet "$setup" hm_as_postgres "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 --no-sync || hm_die_log "initdb failed" "$setup"
	printf '\n%s\n' "$conf" >>"$data/postgresql.conf"
	hm_quiet "$setup" hm_as_postgres "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start ||
		hm_die_log "pg_ctl start failed" "$setup" "$log"
	hm_pg_ready "$bin" || hm_die_log "PostgreSQL does not answer on 127.0.0.1:$HM_PG_PORT" "$setup" "$log"
	printf '%s\n' "$stamp" >"$HM_PG_DIR/stamp"
	hm_log "postgres: cluster up on 127.0.0.1:$HM_PG_PORT ($("$bin/postgres" --version))"
}

hm_pg_down() {
	local bin
	bin=$(hm_pg_bin) || exit 1
	if [[ -f $HM_PG_DIR/data/PG_VERSION ]]; then
		hm_quiet /dev/null hm_as_postgres "$bin/pg_ctl" -D "$HM_PG_DIR/data" -m fast -w -t 30 stop || true
	fi
	hm_pg_kill_orphans
	rm -rf "$HM_PG_DIR"
}

# ---------------------------------------------------------------- Postfix

hm_smtp_banner() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		IFS= read -r line <&3; printf "QUIT\r\n" >&3; printf "%s\n" "$line"' _ "$HM_SMTP_PORT" 2>/dev/null | tr -d '\r'
}

# (Not `postfix status`: it logs through postlog and sometimes takes seconds.)
hm_postfix_running() {
	local pid=''
	{ read -r pid <"$(postconf -h queue_directory)/pid/master.pid"; } 2>/dev/null || true
	[[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == master ]]
}

hm_postfix_up() {
	local log=$HM_STATE_DIR/postfix-start.log tmap=/etc/postfix/transport want banner
	[[ -f /etc/postfix/main.cf ]] || hm_die "/etc/postfix/main.cf is missing (is postfix installed?)"

	# Everything for the relay domain itself goes to helpmesh's inbound
	# listener. (Exact domain only: a ".helpmesh.test" entry would also
	# capture mail.helpmesh.test, which is a local domain.)
	want="$HM_RELAY_DOMAIN smtp:[${HM_INBOUND_ADDR%:*}]:${HM_INBOUND_ADDR##*:}"
	if [[ $(cat "$tmap" 2>/dev/null) != "$want" || ! -f $tmap.db ]]; then
		printf '%s\n' "$want" >"$tmap" || hm_die "cannot write $tmap"
		postmap "hash:$tmap" || hm_die "postmap $tmap failed"
	fi

	# myorigin is "localhost" rather than /etc/mailname (helpmesh.test) so that
	# unqualified addresses (root, postmaster, ...) stay local instead of being
	# relayed into helpmesh's inbound listener. default_transport and
	# relay_transport are error: (as with Debian's "Local only", plus a clear
	# reason): smtpd rejects any other domain, and subdomains of the relay
	# domain, at RCPT time with a 5xx, so the test MTA never sends mail off
	# this machine and makes no bounces.
	local settings=(
		"myhostname=$HM_MTA_HOSTNAME"
		"myorigin=localhost"
		"mydestination=\$myhostname, localhost, localhost.localdomain, mail.$HM_RELAY_DOMAIN"
		"relay_domains=$HM_RELAY_DOMAIN"
		"transport_maps=hash:$tmap"
		"default_transport=error:the helpmesh test MTA only delivers to localhost and $HM_RELAY_DOMAIN"
		"relay_transport=error:the helpmesh test MTA only relays $HM_RELAY_DOMAIN itself"
		"relayhost="
		"inet_interfaces=loopback-only"
		"inet_protocols=ipv4"
		"mynetworks=127.0.0.0/8"
		"smtpd_relay_restrictions=permit_mynetworks, reject_unauth_destination"
		"smtpd_tls_security_level=none"
		"smtp_tls_security_level=none"
		"home_mailbox=Maildir/"
		"mailbox_command="
		"minimal_backoff_time=1s"
		"maximal_backoff_time=5s"
		"queue_run_delay=1s"
		"maillog_file=$HM_POSTFIX_LOG"
	)
	# Rewrite main.cf only when a value differs: Postfix commands sleep for up
	# to 2 s after main.cf changes (they wait until its mtime is in the past).
	local keys=() want_vals cur_vals changed=0 kv
	for kv in "${settings[@]}"; do keys+=("${kv%%=*}"); done
	want_vals=$(for kv in "${settings[@]}"; do printf '%s\n' "${kv#*=}"; done)
	cur_vals=$(postconf -h "${keys[@]}" 2>/dev/null) || true
	if [[ $cur_vals != "$want_vals" ]]; then
		postconf -e "${settings[@]}" || hm_die "postconf -e failed"
		changed=1
	fi
	[[ -f /etc/aliases.db ]] || newaliases || hm_die "newaliases failed"

	if hm_postfix_running; then
		if ((changed)); then
			hm_log "postfix: configuration changed, reloading"
			hm_quiet "$log" postfix reload || hm_die_log "postfix reload failed" "$log" "$HM_POSTFIX_LOG"
		fi
	else
		hm_log "postfix: starting"
		# `service` (not `postfix start`): Debian's init script also copies
		# resolv.conf & co. into the chroot.
		hm_quiet "$log" service postfix start || hm_die_log "service postfix start failed" "$log" "$HM_POSTFIX_LOG"
	fi
	hm_wait_port 127.0.0.1 "$HM_SMTP_PORT" 10 ||
		hm_die_log "nothing listens on 127.0.0.1:$HM_SMTP_PORT after starting postfix" "$log" "$HM_POSTFIX_LOG"
	banner=$(hm_smtp_banner) || true
	[[ $banner == *Postfix* ]] ||
		hm_die "127.0.0.1:$HM_SMTP_PORT is not Postfix (banner: '$banner'); is another MTA (exim4?) still running?"
	hm_log "postfix: up on 127.0.0.1:$HM_SMTP_PORT, @$HM_RELAY_DOMAIN -> $HM_INBOUND_ADDR (log: $HM_POSTFIX_LOG)"
}

# ---------------------------------------------------------------- Dovecot

hm_dovecot_running() {
	local pid
	pid=$(cat /run/dovecot/master.pid 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

hm_dovecot_up() {
	local conf=/etc/dovecot/local.conf log=$HM_STATE_DIR/dovecot-start.log want changed=0
	[[ -d /etc/dovecot ]] || hm_die "/etc/dovecot is missing (is dovecot-imapd installed?)"
	want=$(
		cat <<-EOF
			# Written by helpmesh scripts/lib/services.sh: test-only IMAP on loopback.
			listen = 127.0.0.1
			protocols = imap
			mail_location = maildir:~/Maildir
			disable_plaintext_auth = no
			auth_mechanisms = plain login
			log_path = $HM_DOVECOT_LOG
		EOF
	)
	if [[ $(cat "$conf" 2>/dev/null) != "$want" ]]; then
		printf '%s\n' "$want" >"$conf" || hm_die "cannot write $conf"
		changed=1
	fi
	if hm_dovecot_running; then
		if ((changed)); then
			hm_log "dovecot: configuration changed, restarting"
			hm_quiet "$log" service dovecot restart || hm_die_log "service dovecot restart failed" "$log" "$HM_DOVECOT_LOG"
		fi
	else
		hm_log "dovecot: starting"
		hm_quiet "$log" service dovecot start || hm_die_log "service dovecot start failed" "$log" "$HM_DOVECOT_LOG"
	fi
	hm_wait_port 127.0.0.1 "$HM_IMAP_PORT" 10 ||
		hm_die_log "nothing listens on 127.0.0.1:$HM_IMAP_PORT after starting dovecot" "$log" "$HM_DOVECOT_LOG"
	hm_log "dovecot: IMAP up on 127.0.0.1:$HM_IMAP_PORT (log: $HM_DOVECOT_LOG)"
}

# ---------------------------------------------------------------- mail users

hm_users_up() {
	local spec user pass home group
	for spec in "${HM_MAIL_USERS[@]}"; do
		user=${spec%%:*} pass=${spec#*:}
		if ! id -u "$user" >/dev/null 2>&1; then
			useradd -m -s /usr/sbin/nologin "$user" || hm_die "useradd $user failed"
			hm_log "users: created $user"
		fi
		printf '%s:%s\n' "$user" "$pass" | chpasswd || hm_die "chpasswd $user failed"
		home=$(getent passwd "$user" | cut -d: -f6)
		group=$(id -g "$user")
		[[ -n $home && $home != / ]] || hm_die "user $user has no home directory"
		install -d -o "$user" -g "$group" -m 700 "$home" "$home/Maildir" \
			"$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp" ||
			hm_die "cannot create $home/Maildir"
	done
	hm_log "users: ${HM_MAIL_USERS[*]%%:*} ready (Maildir)"
}

# hm_imap USER PASS [COMMAND...]: log in, run the commands, log out; prints
# the server's replies (tagged a1 = LOGIN, a2.. = the commands).
hm_imap() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 10 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		user=$2 pass=$3; shift 3
		{
			printf "a1 LOGIN \"%s\" \"%s\"\r\n" "$user" "$pass"
			i=2
			for c in "$@"; do printf "a%d %s\r\n" "$i" "$c"; i=$((i + 1)); done
			printf "zz LOGOUT\r\n"
		} >&3
		tr -d "\r" <&3' _ "$HM_IMAP_PORT" "$@" 2>/dev/null
}

# Deliver a probe mail through postfix to hmtest@localhost, wait for it in
# the Maildir, find it over IMAP, then remove it again.
hm_mail_probe() {
	local spec user pass home token file='' i resp log=$HM_STATE_DIR/swaks.log logs
	logs=("$log" "$HM_POSTFIX_LOG" "$HM_DOVECOT_LOG")
	spec=${HM_MAIL_USERS[0]}
	user=${spec%%:*} pass=${spec#*:}
	home=$(getent passwd "$user" | cut -d: -f6)
	token="hmprobe$(date +%s%N)x$$"

	hm_quiet "$log" swaks --server "127.0.0.1:$HM_SMTP_PORT" --timeout 10 \
		--from "probe@$HM_LOCAL_DOMAIN" --to "$user@$HM_LOCAL_DOMAIN" \
		--header "Subject: helpmesh services probe $token" \
		--body "Delivery check by scripts/lib/services.sh; deleted right away." ||
		hm_die_log "swaks could not submit a probe mail to 127.0.0.1:$HM_SMTP_PORT" "${logs[@]}"
	for ((i = 0; i < 150; i++)); do
		file=$(grep -rlF -- "$token" "$home/Maildir/new" "$home/Maildir/cur" 2>/dev/null | head -n 1) || true
		[[ -n $file ]] && break
		sleep 0.1
	done
	[[ -n $file ]] ||
		hm_die_log "probe mail to $user@$HM_LOCAL_DOMAIN did not arrive in $home/Maildir within 15s" "${logs[@]}"

	resp=$(hm_imap "$user" "$pass" "SELECT INBOX" "SEARCH SUBJECT \"$token\"") || true
	grep -q '^a1 OK' <<<"$resp" ||
		hm_die_log "IMAP login as $user failed on 127.0.0.1:$HM_IMAP_PORT: $resp" "${logs[@]}"
	grep -Eq '^\* SEARCH [0-9]' <<<"$resp" ||
		hm_die_log "probe mail is in the Maildir but IMAP does not find it: $resp" "${logs[@]}"
	# The probe must not show up in the tests' mailboxes.
	{ grep -rlF -- "$token" "$home/Maildir/new" "$home/Maildir/cur" 2>/dev/null | xargs -r rm -f; } || true

	for spec in "${HM_MAIL_USERS[@]:1}"; do
		resp=$(hm_imap "${spec%%:*}" "${spec#*:}" "SELECT INBOX") || true
		grep -q '^a2 OK' <<<"$resp" ||
			hm_die_log "IMAP login/SELECT as ${spec%%:*} failed: $resp" "${logs[@]}"
	done
	hm_log "mail: probe delivered via postfix to $user@$HM_LOCAL_DOMAIN and found over IMAP"
}

# ---------------------------------------------------------------- podman

# podman (Debian 12: 4.3) runs as root with runc: crun 1.8 refuses hosts with
# cgroup v1 and controllers on the v2 hierarchy too ("cgroups in hybrid mode
# not supported"), which runc handles. The test passes its own --runtime and
# --ulimit flags; this only installs and checks that podman opens its image
# store (`podman info` would take 4 s more).
hm_podman_up() {
	local log=$HM_STATE_DIR/podman.log
	hm_apt_install podman "$HM_STATE_DIR/apt-podman.log" podman runc
	: >"$log"
	hm_quiet "$log" "$HM_PODMAN" --runtime runc image ls ||
		hm_die_log "podman image ls failed" "$log"
	hm_log "podman: $("$HM_PODMAN" --version), runtime runc"
}

# ---------------------------------------------------------------- statuspage.io

# The npm Statuspage client, installed once with the machine's node and npm
# (Debian's nodejs and npm when the machine has none). 3.3.8: 3.4.6 was
# published without its dist/ directory.
hm_statuspage_client_up() {
	local dir=$HM_STATE_DIR/statuspage-client log=$HM_STATE_DIR/statuspage-client.log
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		hm_apt_install node "$HM_STATE_DIR/apt-node.log" nodejs npm
	fi
	if [[ -f $dir/node_modules/statuspage.io/dist/index.js && -f $dir/.version &&
		$(cat "$dir/.version") == "$HM_STATUSPAGE_CLIENT" ]]; then
		hm_log "statuspage.io: reusing $dir ($HM_STATUSPAGE_CLIENT)"
		return 0
	fi
	rm -rf "$dir" && mkdir -p "$dir" || hm_die "cannot create $dir"
	hm_log "statuspage.io: installing $HM_STATUSPAGE_CLIENT with npm (log: $log)"
	hm_quiet "$log" npm install --prefix "$dir" --no-audit --no-fund --no-save "$HM_STATUSPAGE_CLIENT" ||
		hm_die_log "npm install $HM_STATUSPAGE_CLIENT failed" "$log"
	[[ -f $dir/node_modules/statuspage.io/dist/index.js ]] ||
		hm_die_log "npm installed $HM_STATUSPAGE_CLIENT without dist/index.js" "$log"
	printf '%s\n' "$HM_STATUSPAGE_CLIENT" >"$dir/.version"
}

# ---------------------------------------------------------------- all

hm_export_env() {
	local users
	users=$(
		IFS=,
		printf '%s' "${HM_MAIL_USERS[*]}"
	)
	export HELPMESH_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$HM_PG_PORT/postgres?sslmode=disable"
	export HELPMESH_TEST_MTA="127.0.0.1:$HM_SMTP_PORT"
	export HELPMESH_TEST_RELAY_DOMAIN="$HM_RELAY_DOMAIN"
	export HELPMESH_TEST_INBOUND_ADDR="$HM_INBOUND_ADDR"
	export HELPMESH_TEST_IMAP="127.0.0.1:$HM_IMAP_PORT"
	export HELPMESH_TEST_IMAP_USERS="$users"
	export HELPMESH_TEST_LOCAL_DOMAIN="$HM_LOCAL_DOMAIN"
	export HELPMESH_TEST_CHROMIUM="$HM_CHROMIUM"
	export HELPMESH_TEST_PODMAN="$HM_PODMAN"
	export HELPMESH_TEST_STATUSPAGE_CLIENT="$HM_STATE_DIR/statuspage-client"
}

hm_print_exports() {
	local v
	for v in "${HM_ENV_VARS[@]}"; do
		printf "export %s='%s'\n" "$v" "${!v}"
	done
}

hm_timed() {
	local t0 name=$1
	shift
	t0=$(hm_now)
	"$@"
	hm_log "  ($name: $(hm_elapsed "$t0")s)"
}

# Install, start and check everything, then export the HELPMESH_TEST_* vars.
# Serialised with flock so that two runs at the same time do not race.
hm_services_up() {
	[[ $(id -u) == 0 ]] || hm_die "must run as root (installs packages, starts daemons)"
	mkdir -p "$HM_STATE_DIR" || hm_die "cannot create $HM_STATE_DIR"
	# fd 9 holds the lock; hm_quiet closes it for the daemons we start.
	exec 9>"$HM_STATE_DIR/lock" || hm_die "cannot open $HM_STATE_DIR/lock"
	if ! flock -n 9; then
		hm_log "waiting for another scripts/test or scripts/services run to finish its setup..."
		flock -w 600 9 || hm_die "timed out waiting for $HM_STATE_DIR/lock"
	fi

	hm_timed packages hm_install_packages
	hm_timed postgres hm_pg_up
	hm_timed users hm_users_up
	hm_timed postfix hm_postfix_up
	hm_timed dovecot hm_dovecot_up
	hm_timed mail-probe hm_mail_probe
	[[ -x $HM_CHROMIUM ]] || hm_die "$HM_CHROMIUM is missing (is the chromium package installed?)"
	hm_log "chromium: $HM_CHROMIUM"
	hm_timed podman hm_podman_up
	hm_timed statuspage.io hm_statuspage_client_up
	hm_timed rt5 hm_rt5_up
	hm_timed redmine5 hm_redmine5_up
	hm_export_env
	hm_redmine5_export

	exec 9>&-
}

# Stop the daemons and remove the throwaway PostgreSQL cluster.
hm_services_down() {
	[[ $(id -u) == 0 ]] || hm_die "must run as root"
	mkdir -p "$HM_STATE_DIR"
	hm_pg_down
	hm_log "postgres: stopped, $HM_PG_DIR removed"
	if command -v postfix >/dev/null && hm_postfix_running; then
		hm_quiet /dev/null postfix stop || true
		hm_log "postfix: stopped"
	fi
	if hm_dovecot_running; then
		hm_quiet /dev/null doveadm stop || true
		hm_log "dovecot: stopped"
	fi
	hm_redmine5_down
	hm_rt5_down
}
