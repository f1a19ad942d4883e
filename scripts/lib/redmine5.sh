# shellcheck shell=bash
#
# Sourced by scripts/lib/services.sh; not meant to be run directly.
#
# Redmine 5 (Debian 12's redmine + redmine-sqlite, served by Passenger
# Standalone on loopback) for the tests of the Redmine connector
# (internal/connector/redmine5). research/deps.md §5 lists what bites; the
# numbers in the comments below are its points.
#
# After hm_redmine5_up the instance has the REST API on, a tracker and a
# project for the tests, the admin's API key (the connector's account) and a
# second user "hmother" with an API key of its own (a person working in
# Redmine), all kept in $HM_RM_DIR so that a second run reuses them.

HM_RM_PORT=${HELPMESH_TEST_REDMINE5_PORT:-3055}
HM_RM_DIR=$HM_STATE_DIR/redmine5
HM_RM_APP=/usr/share/redmine
# deps.md §5.1: the default gem bundler of ruby3.1 cannot use Debian's gems.
HM_RM_BUNDLER=2.3.15
HM_RM_PROJECT=helpmesh-test
HM_RM_TRACKER=Helpmesh
HM_RM_ADMIN_PASSWORD=hm-redmine-admin-pass
HM_RM_OTHER_LOGIN=hmother

# hm_rm_env CMD...: run with the pinned bundler and Redmine's environment.
hm_rm_env() {
	env BUNDLER_VERSION=$HM_RM_BUNDLER RAILS_ENV=production "$@"
}

hm_redmine5_packages() {
	local log=$HM_STATE_DIR/redmine5-apt.log p missing=0
	for p in ruby-bundler redmine redmine-sqlite passenger; do
		hm_pkg_installed "$p" || missing=1
	done
	if ((missing == 0)); then
		hm_log "redmine5: packages already installed"
		return 0
	fi
	hm_log "redmine5: installing ruby-bundler, redmine, redmine-sqlite, passenger (log: $log)"
	: >"$log"
	export DEBIAN_FRONTEND=noninteractive
	debconf-set-selections <<-EOF || hm_die "debconf-set-selections failed"
		redmine redmine/instances/default/dbconfig-install boolean true
		redmine redmine/instances/default/database-type select sqlite3
	EOF
	# §5.15: the RT set-up may hold the dpkg lock at the same time.
	local apt_opts=(-q -o DPkg::Lock::Timeout=900
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
	hm_quiet "$log" apt-get "${apt_opts[@]}" update ||
		hm_die_log "apt-get update failed" "$log"
	# §5.1: Debian's ruby-bundler first, then everything with it pinned;
	# §5.2: passenger in the same run as redmine.
	hm_quiet "$log" apt-get "${apt_opts[@]}" install -y ruby-bundler ||
		hm_die_log "apt-get install ruby-bundler failed" "$log"
	hm_quiet "$log" env BUNDLER_VERSION=$HM_RM_BUNDLER apt-get "${apt_opts[@]}" install -y \
		redmine redmine-sqlite passenger ||
		hm_die_log "apt-get install redmine redmine-sqlite passenger failed" "$log"
	for p in ruby-bundler redmine redmine-sqlite passenger; do
		hm_pkg_installed "$p" || hm_die_log "package $p is still not installed" "$log"
	done
}

# §5.9 and §5.10: Redmine's local hook, evaluated in its Application class.
hm_redmine5_additional_env() {
	cat <<-'EOF2'
		# Written by helpmesh scripts/lib/redmine5.sh (test instance only).
		# Notification jobs run in the request: an :async job thread holds an
		# SQLite read that stalls every writer for the busy timeout.
		config.active_job.queue_adapter = :inline
		# Start write transactions with BEGIN IMMEDIATE, so that two
		# read-then-write transactions wait for each other (busy timeout)
		# instead of one failing at once with "database is locked".
		ActiveSupport.on_load(:active_record_sqlite3adapter) do
		  prepend(Module.new do
		    def begin_db_transaction
		      log('begin immediate transaction', 'TRANSACTION') { @connection.transaction(:immediate) }
		    end
		  end)
		end
	EOF2
}

# The one-time set-up inside Redmine (§5.11, §5.12, §5.18), as a rails
# runner script. Prints KEY=VALUE lines for the state directory.
hm_redmine5_runner_script() {
	cat <<-EOF2
		Redmine::DefaultData::Loader.load('en') if Tracker.count.zero? && IssueStatus.count.zero?
		Setting.rest_api_enabled = '1'
		admin = User.find_by(login: 'admin')
		admin.password = admin.password_confirmation = '$HM_RM_ADMIN_PASSWORD'
		admin.must_change_passwd = false
		admin.mail_notification = 'none'
		admin.save!
		support = Tracker.find_by(name: 'Support') || Tracker.first
		tracker = Tracker.find_by(name: '$HM_RM_TRACKER')
		unless tracker
		  tracker = Tracker.new(name: '$HM_RM_TRACKER', default_status: IssueStatus.find_by(name: 'New') || IssueStatus.first)
		  tracker.core_fields = support.core_fields
		  tracker.save!
		  tracker.copy_workflow_rules(support)
		end
		project = Project.find_by(identifier: '$HM_RM_PROJECT')
		unless project
		  project = Project.new(name: 'helpmesh tests', identifier: '$HM_RM_PROJECT', is_public: false)
		  project.enabled_module_names = %w[issue_tracking]
		  project.trackers = Tracker.all.to_a
		  project.save!
		end
		other = User.find_by(login: '$HM_RM_OTHER_LOGIN')
		unless other
		  other = User.new(firstname: 'Other', lastname: 'Person', mail: '$HM_RM_OTHER_LOGIN@example.org')
		  other.login = '$HM_RM_OTHER_LOGIN'
		  other.password = other.password_confirmation = 'hm-redmine-other-pass'
		  other.mail_notification = 'none'
		  other.save!
		end
		manager = Role.find_by(name: 'Manager') || Role.givable.first
		unless Member.exists?(project: project, user: other)
		  Member.create!(project: project, principal: other, role_ids: [manager.id])
		end
		puts "KEY=#{admin.api_key}"
		puts "OTHER_KEY=#{other.api_key}"
		puts "TRACKER=#{tracker.id}"
		puts "PROJECT=#{project.identifier}"
	EOF2
}

# hm_redmine5_file PATH CONTENT: write PATH if it differs; true if written.
hm_redmine5_file() {
	[[ $(cat "$1" 2>/dev/null) == "$2" ]] && return 1
	printf '%s\n' "$2" >"$1" || hm_die "cannot write $1"
	return 0
}

hm_redmine5_configure() {
	local db=/etc/redmine/default/database.yml changed=0 log=$HM_STATE_DIR/redmine5-setup.log
	[[ -f $db ]] || hm_die "$db is missing (is redmine installed?)"
	# §5.9: a busy timeout for SQLite.
	if ! grep -q '^  timeout: 30000$' "$db"; then
		sed -i '/^production:/a\  timeout: 30000' "$db" || hm_die "cannot edit $db"
		changed=1
	fi
	hm_redmine5_file "$HM_RM_APP/config/additional_environment.rb" "$(hm_redmine5_additional_env)" && changed=1
	# §5.2: a later apt run of any Ruby package may have removed the lock file.
	if [[ ! -s /var/lib/redmine/Gemfile.lock ]]; then
		hm_log "redmine5: recreating Gemfile.lock"
		(cd "$HM_RM_APP" && hm_quiet "$log" hm_rm_env bundle install --local) ||
			hm_die_log "bundle install --local failed" "$log"
		chown www-data:www-data /var/lib/redmine/Gemfile.lock
		changed=1
	fi
	return $((1 - changed))
}

# hm_redmine5_credentials: run the rails runner set-up unless the state
# directory already has its results.
hm_redmine5_credentials() {
	local log=$HM_STATE_DIR/redmine5-setup.log script=$HM_RM_DIR/setup.rb out
	if [[ -s $HM_RM_DIR/credentials ]] && grep -q '^OTHER_KEY=.' "$HM_RM_DIR/credentials"; then
		return 0
	fi
	hm_log "redmine5: setting up admin, REST API, tracker, project and users (rails runner)"
	hm_redmine5_runner_script >"$script"
	chmod 644 "$script"
	out=$(cd "$HM_RM_APP" && runuser -u www-data -- env BUNDLER_VERSION=$HM_RM_BUNDLER RAILS_ENV=production \
		bundle exec rails runner "$script" </dev/null 2>>"$log" 9>&-) ||
		hm_die_log "rails runner set-up failed" "$log"
	grep -E '^(KEY|OTHER_KEY|TRACKER|PROJECT)=' <<<"$out" >"$HM_RM_DIR/credentials.new" || true
	grep -q '^OTHER_KEY=.' "$HM_RM_DIR/credentials.new" ||
		hm_die_log "rails runner printed no API keys: $out" "$log"
	mv "$HM_RM_DIR/credentials.new" "$HM_RM_DIR/credentials"
	chmod 600 "$HM_RM_DIR/credentials"
}

hm_redmine5_pid() {
	local pid
	pid=$(cat "$HM_RM_DIR/passenger.pid" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && printf '%s\n' "$pid"
}

# hm_redmine5_ready: the REST API answers with the admin's key.
hm_redmine5_ready() {
	local key
	key=$(sed -n 's/^KEY=//p' "$HM_RM_DIR/credentials" 2>/dev/null)
	[[ -n $key ]] || return 1
	[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Redmine-API-Key: $key" \
		"http://127.0.0.1:$HM_RM_PORT/users/current.json") == 200 ]]
}

hm_redmine5_stop() {
	local pid i
	pid=$(hm_redmine5_pid) || return 0
	# §5.8: the pid file holds the watchdog's pid; passenger stop signals it.
	hm_quiet /dev/null passenger stop --pid-file "$HM_RM_DIR/passenger.pid" || kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

hm_redmine5_up() {
	local changed=0 log=$HM_RM_DIR/passenger.log start=$HM_RM_DIR/passenger-start.log
	mkdir -p "$HM_RM_DIR" || hm_die "cannot create $HM_RM_DIR"
	hm_redmine5_packages
	hm_redmine5_configure && changed=1
	if ((changed)) && hm_redmine5_pid >/dev/null; then
		hm_log "redmine5: configuration changed, restarting"
		hm_redmine5_stop
	fi
	if hm_redmine5_pid >/dev/null && hm_redmine5_ready; then
		hm_log "redmine5: reusing the running instance on 127.0.0.1:$HM_RM_PORT"
		return 0
	fi
	hm_redmine5_stop
	# The set-up writes the SQLite file: not while Passenger serves it.
	hm_redmine5_credentials
	if hm_port_open 127.0.0.1 "$HM_RM_PORT"; then
		hm_die "port $HM_RM_PORT is in use by something that is not this script's Redmine"
	fi
	hm_log "redmine5: starting Passenger Standalone on 127.0.0.1:$HM_RM_PORT (log: $log)"
	# Passenger writes its log as www-data; our output goes elsewhere.
	touch "$log" && chown www-data:www-data "$HM_RM_DIR" "$log" || hm_die "cannot chown $HM_RM_DIR"
	: >"$start"
	(cd "$HM_RM_APP" && hm_quiet "$start" env BUNDLER_VERSION=$HM_RM_BUNDLER passenger start \
		--engine=builtin --disable-security-update-check --disable-anonymous-telemetry \
		--address 127.0.0.1 --port "$HM_RM_PORT" --environment production --user www-data \
		--min-instances 1 --max-pool-size 2 \
		--daemonize --pid-file "$HM_RM_DIR/passenger.pid" --log-file "$log") ||
		hm_die_log "passenger start failed" "$start" "$log"
	# A few seconds on an idle machine; much more when the cores are busy.
	local deadline=$((SECONDS + 240))
	until hm_redmine5_ready; do
		((SECONDS < deadline)) || hm_die_log "Redmine does not answer on 127.0.0.1:$HM_RM_PORT after 240s" "$start" "$log"
		hm_redmine5_pid >/dev/null || hm_die_log "Passenger stopped while Redmine was starting" "$start" "$log"
		sleep 0.2
	done
	hm_log "redmine5: up on 127.0.0.1:$HM_RM_PORT"
}

hm_redmine5_down() {
	if hm_redmine5_pid >/dev/null; then
		hm_redmine5_stop
		hm_log "redmine5: stopped"
	fi
}

hm_redmine5_export() {
	local f=$HM_RM_DIR/credentials
	export HELPMESH_TEST_REDMINE5_URL="http://127.0.0.1:$HM_RM_PORT"
	HELPMESH_TEST_REDMINE5_KEY=$(sed -n 's/^KEY=//p' "$f")
	HELPMESH_TEST_REDMINE5_OTHER_KEY=$(sed -n 's/^OTHER_KEY=//p' "$f")
	HELPMESH_TEST_REDMINE5_PROJECT=$(sed -n 's/^PROJECT=//p' "$f")
	HELPMESH_TEST_REDMINE5_TRACKER=$(sed -n 's/^TRACKER=//p' "$f")
	export HELPMESH_TEST_REDMINE5_KEY HELPMESH_TEST_REDMINE5_OTHER_KEY \
		HELPMESH_TEST_REDMINE5_PROJECT HELPMESH_TEST_REDMINE5_TRACKER
}
