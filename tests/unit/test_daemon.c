/* Unit tests for what the daemon leans on outside its loop: the client's sentence
 * when no daemon answers, and the supervisor's hold of the restore lock. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/common.h"
#include "scheduler/scheduler.h"
#include "tests/unit/unit.h"

TEST(daemon_request_says_when_no_daemon_answers)
{
	char dir[] = "/tmp/rv-unit-daemon-XXXXXX", path[128];
	json_t *ans = NULL, *req = json_pack("{s:s}", "cmd", "status");
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/none.sock", dir);
	int r = daemon_request(path, req, 1000, &ans);
	json_decref(req);
	rmdir(dir);
	CHECK_INT(r, -ECONNREFUSED);
	CHECK(ans == NULL);
	CHECK(strstr(rv_errmsg(r), "no regvault daemon answers on ") != NULL);
	CHECK(strstr(rv_errmsg(r), path) != NULL);
	rv_err_clear();
}

/* A restore holds the lock exclusively: the supervisor's shared hold is refused
 * (not an error), and granted again once the restore lets go. */
TEST(restore_hold_yields_to_a_restore)
{
	char dir[] = "/tmp/rv-unit-hold-XXXXXX", path[128];
	int fd = -1, restore_fd;
	bool held = false;
	CHECK(mkdtemp(dir));
	CHECK_INT(restore_hold(dir, &fd, &held), 0);
	CHECK(held && fd >= 0);
	restore_hold_release(fd);
	snprintf(path, sizeof path, "%s/restore.lock", dir);
	restore_fd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(restore_fd >= 0);
	CHECK_INT(flock(restore_fd, LOCK_EX | LOCK_NB), 0);
	CHECK_INT(restore_hold(dir, &fd, &held), 0);
	CHECK(!held && fd == -1);
	close(restore_fd);
	CHECK_INT(restore_hold(dir, &fd, &held), 0);
	CHECK(held);
	restore_hold_release(fd);
	unlink(path);
	rmdir(dir);
}
