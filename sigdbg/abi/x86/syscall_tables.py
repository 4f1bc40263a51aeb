"""Raw x86 system-call tables, transcribed from the kernel's syscall tables.

Sources: ``arch/x86/entry/syscalls/syscall_64.tbl`` (ABIs "common" and "64";
the x32-only entries 512–547 are left out) and
``arch/x86/entry/syscalls/syscall_32.tbl`` (ABI "i386"), Linux v6.19 plus
``rseq_slice_yield`` (471, merged after v6.19).  Entries without an entry
point (``break``, ``tuxcall``, ``afs_syscall``, ...) keep their names.

Format: each line is the number of its first name followed by names for
consecutive numbers; ``-`` is a number the table leaves unused.  Parsed once by
:mod:`sigdbg.names.syscalls`.
"""

from __future__ import annotations

X86_64_TABLE = """
0 read write open close stat fstat lstat poll lseek mmap
10 mprotect munmap brk rt_sigaction rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv
20 writev access pipe select sched_yield mremap msync mincore madvise shmget
30 shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid
40 sendfile socket connect accept sendto recvfrom sendmsg recvmsg shutdown bind
50 listen getsockname getpeername socketpair setsockopt getsockopt clone fork vfork execve
60 exit wait4 kill uname semget semop semctl shmdt msgget msgsnd
70 msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd
80 chdir fchdir rename mkdir rmdir creat link unlink symlink readlink
90 chmod fchmod chown fchown lchown umask gettimeofday getrlimit getrusage sysinfo
100 times ptrace getuid syslog getgid setuid setgid geteuid getegid setpgid
110 getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid getresuid setresgid
120 getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending rt_sigtimedwait
    rt_sigqueueinfo
130 rt_sigsuspend sigaltstack utime mknod uselib personality ustat statfs fstatfs sysfs
140 getpriority setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock
150 munlock mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex
160 setrlimit chroot sync acct settimeofday mount umount2 swapon swapoff reboot
170 sethostname setdomainname iopl ioperm create_module init_module delete_module
    get_kernel_syms query_module quotactl
180 nfsservctl getpmsg putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr
190 fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr
    lremovexattr fremovexattr
200 tkill time futex sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy
    io_getevents io_submit
210 io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old
    remap_file_pages getdents64 set_tid_address restart_syscall
220 semtimedop fadvise64 timer_create timer_settime timer_gettime timer_getoverrun timer_delete
    clock_settime clock_gettime clock_getres
230 clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind set_mempolicy
    get_mempolicy
240 mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load waitid
    add_key request_key
250 keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages
    openat mkdirat mknodat
260 fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat
270 pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice
    move_pages
280 utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime
    timerfd_gettime accept4 signalfd4
290 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo
    perf_event_open recvmmsg
300 fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime
    syncfs sendmmsg setns getcpu
310 process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2
    seccomp getrandom memfd_create
320 kexec_file_load bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2
    pkey_mprotect
330 pkey_alloc pkey_free statx io_pgetevents rseq uretprobe uprobe
424 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
430 fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
440 process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
    landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
450 set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait
    futex_requeue statmount listmount lsm_get_self_attr
460 lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat
    open_tree_attr file_getattr file_setattr
470 listns rseq_slice_yield
"""

I386_TABLE = """
0 restart_syscall exit fork read write open close waitpid creat link
10 unlink execve chdir time mknod chmod lchown break oldstat lseek
20 getpid mount umount setuid getuid stime ptrace alarm oldfstat pause
30 utime stty gtty access nice ftime sync kill rename mkdir
40 rmdir dup pipe times prof brk setgid getgid signal geteuid
50 getegid acct umount2 lock ioctl fcntl mpx setpgid ulimit oldolduname
60 umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask ssetmask
70 setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage
    gettimeofday settimeofday
80 getgroups setgroups select symlink oldlstat readlink uselib swapon reboot readdir
90 mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil statfs
100 fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname
110 iopl vhangup idle vm86old wait4 swapoff sysinfo ipc fsync sigreturn
120 clone setdomainname uname modify_ldt adjtimex mprotect sigprocmask create_module init_module
    delete_module
130 get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid setfsgid
140 _llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl
150 mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler
    sched_getscheduler sched_yield sched_get_priority_max
160 sched_get_priority_min sched_rr_get_interval nanosleep mremap setresuid getresuid vm86
    query_module poll nfsservctl
170 setresgid getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending
    rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend
180 pread64 pwrite64 chown getcwd capget capset sigaltstack sendfile getpmsg putpmsg
190 vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64 lstat64 fstat64 lchown32 getuid32
200 getgid32 geteuid32 getegid32 setreuid32 setregid32 getgroups32 setgroups32 fchown32
    setresuid32 getresuid32
210 setresgid32 getresgid32 chown32 setuid32 setgid32 setfsuid32 setfsgid32 pivot_root mincore
    madvise
220 getdents64 fcntl64 - - gettid readahead setxattr lsetxattr fsetxattr getxattr
230 lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr
    tkill sendfile64
240 futex sched_setaffinity sched_getaffinity set_thread_area get_thread_area io_setup
    io_destroy io_getevents io_submit io_cancel
250 fadvise64 - exit_group lookup_dcookie epoll_create epoll_ctl epoll_wait remap_file_pages
    set_tid_address timer_create
260 timer_settime timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime
    clock_getres clock_nanosleep statfs64 fstatfs64
270 tgkill utimes fadvise64_64 vserver mbind get_mempolicy set_mempolicy mq_open mq_unlink
    mq_timedsend
280 mq_timedreceive mq_notify mq_getsetattr kexec_load waitid - add_key request_key keyctl
    ioprio_set
290 ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat
    mknodat fchownat futimesat
300 fstatat64 unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll
310 unshare set_robust_list get_robust_list splice sync_file_range tee vmsplice move_pages getcpu
    epoll_pwait
320 utimensat signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime signalfd4
    eventfd2 epoll_create1
330 dup3 pipe2 inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg
    fanotify_init fanotify_mark
340 prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns
    process_vm_readv process_vm_writev kcmp
350 finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create bpf
    execveat socket
360 socketpair bind connect listen accept4 getsockopt setsockopt getsockname getpeername sendto
370 sendmsg recvfrom recvmsg shutdown userfaultfd membarrier mlock2 copy_file_range preadv2
    pwritev2
380 pkey_mprotect pkey_alloc pkey_free statx arch_prctl io_pgetevents rseq
393 semget semctl shmget shmctl shmat shmdt msgget
400 msgsnd msgrcv msgctl clock_gettime64 clock_settime64 clock_adjtime64 clock_getres_time64
    clock_nanosleep_time64 timer_gettime64 timer_settime64
410 timerfd_gettime64 timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64 -
    io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64
420 semtimedop_time64 rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval_time64
    pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount
430 fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2
440 process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset
    landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv
450 set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait
    futex_requeue statmount listmount lsm_get_self_attr
460 lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat
    open_tree_attr file_getattr file_setattr
470 listns rseq_slice_yield
"""
