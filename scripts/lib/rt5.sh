# shellcheck shell=bash
#
# Sourced by scripts/lib/services.sh; not meant to be run directly.
#
# Request Tracker 5 for the federation tests (internal/connector/rt5), from
# Debian's packages, on loopback only (research/deps.md §5 lists what bites):
#
#   RT 5        http://127.0.0.1:$HM_RT5_PORT (SQLite, standalone Starlet
#               server run as www-data), REST2 under /REST/2.0
#   queue       $HM_RT5_QUEUE
#   users       helpmesh (the connector's account, SuperUser) and root; one
#               auth token each, kept in $HM_RT5_STATE so that a second run
#               reuses them
#   mail        RT's MailCommand is 'mbox': it mails nobody
#
# Idempotent: a running RT whose tokens still work is reused as it is.

HM_RT5_PORT=${HELPMESH_TEST_RT5_PORT:-55480}
HM_RT5_QUEUE=helpmesh-test
HM_RT5_USER=helpmesh
HM_RT5_PACKAGES=(request-tracker5 rt5-db-sqlite rt5-standalone w3m)
HM_RT5_SERVER=/usr/share/request-tracker5/libexec/rt-server
HM_RT5_LIB=/usr/share/request-tracker5/lib
HM_RT5_SITE=/etc/request-tracker5/RT_SiteConfig.d/90-helpmesh-test.pm
HM_RT5_STATE=$HM_STATE_DIR/rt5
HM_RT5_LOG=/var/log/helpmesh-test-rt5.log

hm_rt5_url() { printf 'http://127.0.0.1:%s' "$HM_RT5_PORT"; }

hm_rt5_install() {
	hm_apt_install rt5 "$HM_STATE_DIR/apt-rt5.log" "${HM_RT5_PACKAGES[@]}" <<-EOF
		request-tracker5 request-tracker5/rtname string rt.helpmesh.test
		request-tracker5 request-tracker5/organization string rt.helpmesh.test
		request-tracker5 request-tracker5/correspondaddress string rt@localhost
		request-tracker5 request-tracker5/commentaddress string rt-comment@localhost
		request-tracker5 request-tracker5/webbaseurl string $(hm_rt5_url)
		request-tracker5 request-tracker5/webpath string
		request-tracker5 request-tracker5/handle-siteconfig-permissions boolean true
		request-tracker5 request-tracker5/install-cronjobs boolean false
		request-tracker5 request-tracker5/dbconfig-install boolean true
		request-tracker5 request-tracker5/database-type select sqlite3
	EOF
}

# hm_rt5_configure: the loopback port, no mail, config readable by www-data.
# Returns 0; sets HM_RT5_CHANGED=1 when a file changed.
hm_rt5_configure() {
	local want f
	HM_RT5_CHANGED=0
	want=$(
		cat <<-EOF
			# Written by helpmesh scripts/lib/rt5.sh: the test RT on loopback.
			Set(\$WebPath, "");
			Set(\$WebDomain, "127.0.0.1");
			Set(\$WebPort, $HM_RT5_PORT);
			Set(\$WebBaseURL, "$(hm_rt5_url)");
			Set(\$MailCommand, 'mbox');
			Set(\$LogToSTDERR, 'warning');
			1;
		EOF
	)
	if [[ $(cat "$HM_RT5_SITE" 2>/dev/null) != "$want" ]]; then
		printf '%s\n' "$want" >"$HM_RT5_SITE" || hm_die "cannot write $HM_RT5_SITE"
		HM_RT5_CHANGED=1
	fi
	# The postinst leaves RT_SiteConfig.pm root:root 0600 (deps.md §5.3).
	for f in /etc/request-tracker5/RT_SiteConfig.pm /etc/request-tracker5/RT_SiteConfig.d/*.pm; do
		[[ -e $f ]] || continue
		chgrp www-data "$f" && chmod 0640 "$f" || hm_die "cannot make $f readable by www-data"
	done
	return 0
}

# hm_rt5_pid: the pid of the rt-server this script started, if it runs.
hm_rt5_pid() {
	local pid
	pid=$(cat "$HM_RT5_STATE/server.pid" 2>/dev/null) || return 1
	[[ -n $pid && -e /proc/$pid ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'rt-server' || return 1
	printf '%s\n' "$pid"
}

# hm_rt5_token_ok TOKEN: true if RT answers REST2 for this token and sees the queue.
hm_rt5_token_ok() {
	local code
	local i
	# RT bcrypts the token on every request: seconds on a loaded machine,
	# so a slow answer is retried before RT is judged broken.
	for ((i = 0; i < 3; i++)); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 \
			-H "Authorization: token $1" "$(hm_rt5_url)/REST/2.0/queue/$HM_RT5_QUEUE" 2>/dev/null) || code=000
		[[ $code == 000 ]] || break
	done
	[[ $code == 200 ]]
}

# hm_rt5_stop: stop this script's RT, its workers too. A master killed
# after the grace period would leave its Starlet workers holding the port,
# so whatever still runs with RT's command line on our port is killed, and
# the port is waited for.
hm_rt5_stop() {
	local pid pattern="rt-server --server Starlet --listen 127.0.0.1:$HM_RT5_PORT"
	if pid=$(hm_rt5_pid); then hm_stop_pid TERM "$pid"; fi
	rm -f "$HM_RT5_STATE/server.pid"
	if pgrep -f "$pattern" >/dev/null; then
		pkill -KILL -f "$pattern" || true
	fi
	hm_wait_port_closed 127.0.0.1 "$HM_RT5_PORT" 30 ||
		hm_die "port $HM_RT5_PORT stays in use after stopping RT"
}

# hm_rt5_provision: the queue, the connector's user and a token for it and
# for root, through RT's Perl API (RT must not run: it writes RT's SQLite
# file). Tokens are written to $HM_RT5_STATE/token and root-token.
hm_rt5_provision() {
	local log=$HM_RT5_STATE/provision.log out
	: >"$log"
	# shellcheck disable=SC2016 # Perl, not shell
	out=$(cd / && runuser -u www-data -- perl -e '
		use strict; use warnings;
		use lib $ARGV[0];
		use RT; RT::LoadConfig(); RT::Init();
		my ($qname, $uname) = ($ARGV[1], $ARGV[2]);
		my $q = RT::Queue->new(RT->SystemUser);
		$q->Load($qname);
		unless ($q->id) {
			my ($ok, $msg) = $q->Create(Name => $qname,
				CorrespondAddress => "$qname\@localhost", CommentAddress => "$qname-comment\@localhost");
			die "queue: $msg\n" unless $ok;
		}
		my $u = RT::User->new(RT->SystemUser);
		$u->Load($uname);
		unless ($u->id) {
			my ($ok, $msg) = $u->Create(Name => $uname, EmailAddress => "$uname\@localhost",
				RealName => "helpmesh connector", Privileged => 1);
			die "user: $msg\n" unless $ok;
		}
		my ($ok, $msg) = $u->PrincipalObj->GrantRight(Right => "SuperUser", Object => $RT::System);
		die "right: $msg\n" unless $ok || $msg =~ /already/i;
		for my $name ($uname, "root") {
			my $owner = RT::User->new(RT->SystemUser);
			$owner->Load($name);
			die "no user $name\n" unless $owner->id;
			my $tok = RT::AuthToken->new(RT::CurrentUser->new($owner));
			my ($id, $m, $token) = $tok->Create(Owner => $owner->id, Description => "helpmesh tests");
			die "token for $name: $m\n" unless $id;
			print "$name $token\n";
		}
	' "$HM_RT5_LIB" "$HM_RT5_QUEUE" "$HM_RT5_USER" 2>>"$log") ||
		hm_die_log "creating the RT queue, user and tokens failed" "$log"
	awk -v u="$HM_RT5_USER" '$1 == u { print $2 }' <<<"$out" >"$HM_RT5_STATE/token"
	awk '$1 == "root" { print $2 }' <<<"$out" >"$HM_RT5_STATE/root-token"
	[[ -s $HM_RT5_STATE/token && -s $HM_RT5_STATE/root-token ]] ||
		hm_die_log "RT's Perl API printed no tokens: $out" "$log"
	chmod 600 "$HM_RT5_STATE/token" "$HM_RT5_STATE/root-token"
}

hm_rt5_start() {
	local pid i
	if hm_port_open 127.0.0.1 "$HM_RT5_PORT"; then
		hm_die "port $HM_RT5_PORT is in use by something that is not this script's RT"
	fi
	: >"$HM_RT5_LOG"
	chown www-data "$HM_RT5_LOG"
	# setsid -f: RT runs on in its own session and this returns at once;
	# hm_quiet: RT inherits no pipe and not the lock fd (9), which would
	# otherwise hold services.sh's lock for as long as RT runs.
	(cd / && hm_quiet "$HM_RT5_LOG" setsid -f runuser -u www-data -- \
		"$HM_RT5_SERVER" --server Starlet --listen "127.0.0.1:$HM_RT5_PORT" --max-workers 4)
	for ((i = 0; i < 100; i++)); do
		pid=$(pgrep -u www-data -f "rt-server --server Starlet --listen 127.0.0.1:$HM_RT5_PORT" | head -n 1) || true
		[[ -n $pid ]] && break
		sleep 0.1
	done
	[[ -n $pid ]] || hm_die_log "rt-server did not start" "$HM_RT5_LOG"
	printf '%s\n' "$pid" >"$HM_RT5_STATE/server.pid"
	hm_wait_port 127.0.0.1 "$HM_RT5_PORT" 60 ||
		hm_die_log "RT does not listen on 127.0.0.1:$HM_RT5_PORT" "$HM_RT5_LOG"
}

# hm_rt5_tokens_ok: true if RT answers both saved tokens.
hm_rt5_tokens_ok() {
	local token root
	token=$(cat "$HM_RT5_STATE/token" 2>/dev/null) && root=$(cat "$HM_RT5_STATE/root-token" 2>/dev/null) &&
		[[ -n $token && -n $root ]] && hm_rt5_token_ok "$token" && hm_rt5_token_ok "$root"
}

# hm_rt5_start_checked: start RT and wait until it answers REST2 (any code).
hm_rt5_start_checked() {
	local i
	hm_log "rt5: starting rt-server on $(hm_rt5_url) (log: $HM_RT5_LOG)"
	hm_rt5_start
	for ((i = 0; i < 300; i++)); do
		[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$(hm_rt5_url)/REST/2.0/" 2>/dev/null) =~ ^[1-5] ]] &&
			return 0
		sleep 0.2
	done
	hm_die_log "RT does not answer HTTP on $(hm_rt5_url)" "$HM_RT5_LOG"
}

hm_rt5_up() {
	mkdir -p "$HM_RT5_STATE" || hm_die "cannot create $HM_RT5_STATE"
	hm_rt5_install
	hm_rt5_configure
	# Reuse: one token checked (each check costs RT a bcrypt, seconds under load).
	if ((HM_RT5_CHANGED == 0)) && hm_rt5_pid >/dev/null && [[ -s $HM_RT5_STATE/root-token ]] &&
		hm_rt5_token_ok "$(cat "$HM_RT5_STATE/token" 2>/dev/null)"; then
		hm_log "rt5: reusing running RT on $(hm_rt5_url)"
	else
		hm_rt5_stop
		if [[ -s $HM_RT5_STATE/token ]]; then
			hm_rt5_start_checked
			hm_rt5_tokens_ok || hm_rt5_stop
		fi
		if ! hm_rt5_pid >/dev/null; then
			# RT must not run while the Perl API writes its SQLite file.
			hm_log "rt5: creating queue $HM_RT5_QUEUE, user $HM_RT5_USER and tokens"
			hm_rt5_provision
			hm_rt5_start_checked
			hm_rt5_tokens_ok ||
				hm_die_log "RT runs but refuses the new tokens (or has no queue $HM_RT5_QUEUE)" "$HM_RT5_LOG"
		fi
	fi
	export HELPMESH_TEST_RT5_URL HELPMESH_TEST_RT5_TOKEN HELPMESH_TEST_RT5_ROOT_TOKEN HELPMESH_TEST_RT5_QUEUE
	HELPMESH_TEST_RT5_URL=$(hm_rt5_url)
	HELPMESH_TEST_RT5_TOKEN=$(cat "$HM_RT5_STATE/token")
	HELPMESH_TEST_RT5_ROOT_TOKEN=$(cat "$HM_RT5_STATE/root-token")
	HELPMESH_TEST_RT5_QUEUE=$HM_RT5_QUEUE
	hm_log "rt5: up on $HELPMESH_TEST_RT5_URL, queue $HM_RT5_QUEUE"
}

hm_rt5_down() {
	if hm_rt5_pid >/dev/null; then
		hm_rt5_stop
		hm_log "rt5: stopped"
	fi
}
