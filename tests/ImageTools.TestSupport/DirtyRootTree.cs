using System.Text;

namespace ImageTools.TestSupport;

/// <summary>
/// A root tree holding everything an image must not be published with (password hashes in shadow,
/// gshadow, passwd and their backups, opasswd, SSH host keys, a machine-id, logs of every kind, login
/// records, shell histories, /tmp and /var/tmp contents, package caches, build leftovers for --remove)
/// next to things that must stay byte for byte (a binary, a sparse file, configuration, a big directory that
/// becomes an htree, a user's notes). Every secret is a unique string, so a test can look for it in the
/// raw image afterwards: it must not be anywhere (not in a freed block, not in a directory's slack, not in
/// the journal). Needs root (owners, xattrs with the security namespace).
/// </summary>
public sealed class DirtyRootTree
{
    /// <summary>Password hashes (fake but well-formed) that are in the tree's account files.</summary>
    public const string RootHash = "$6$rootsalt$SECRETrootHASHxQ5v7dGbYtqQm0c1yV2nW3f4C5b6N7m8L9k0J1h2G3f4D5s6A7";
    public const string AliceHash = "$y$j9T$alicesalt$SECRETaliceHASHq2W3e4R5t6Y7u8I9o0P1a2S3d4F";
    public const string CarolLockedHash = "$6$carolsalt$SECRETcarolHASHbehindAlock0987654321zyxwvutsrq";
    public const string OldRootHash = "$6$oldsalt$SECREToldROOThashFromBackup1234567890abcdefgh";
    public const string GroupHash = "$6$grpsalt$SECRETgroupHASH0a1b2c3d4e5f6g7h8i9j0k";
    public const string LegacyDesHash = "SECRETdes1234";
    public const string OpasswdHash = "$6$opwsalt$SECREToldPASSWORDhistory000111222333";

    /// <summary>The image's machine ID before scrubbing.</summary>
    public const string MachineId = "3f2c9d8e7a6b5c4d3e2f1a0b9c8d7e6f";

    /// <summary>What the SSH host private key says.</summary>
    public const string HostKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nSECREThostKEYmaterial0123456789\n-----END OPENSSH PRIVATE KEY-----\n";

    public const string RootHistory = "mysql -u admin -pSECRETdbPassword1 production\n";
    public const string AliceHistory = "export AWS_SECRET=SECRETawsKEYalice\n";
    public const string BuildSecret = "SECRETbuildTOKENforCI\n";

    /// <summary>Strings that must not survive anywhere in the scrubbed image.</summary>
    public static IReadOnlyList<string> Secrets { get; } =
    [
        RootHash, AliceHash, CarolLockedHash, OldRootHash, GroupHash, LegacyDesHash, OpasswdHash, MachineId,
        "SECREThostKEYmaterial", "SECRETdbPassword1", "SECRETawsKEYalice", "SECRETbuildTOKENforCI",
        "SECRETsyslogLINE", "SECRETauthLOG", "SECRETjournalENTRY", "SECRETrotatedLOG", "SECRETwtmpRECORD",
        "SECRETtmpFILE", "SECRETvarTMP", "SECRETcachedPACKAGE", "SECRETpythonHISTORY", "SECRETfishHISTORY",
    ];

    /// <summary>Paths that must be gone after a default scrub with <see cref="RemovePatterns"/>.</summary>
    public static IReadOnlyList<string> Removed { get; } =
    [
        "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub", "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
        "/var/lib/dbus/machine-id",
        "/var/log/syslog.1", "/var/log/syslog.2.gz", "/var/log/messages-20240101", "/var/log/kern.log.old", "/var/log/dmesg.0",
        "/var/log/journal/" + MachineId + "/system.journal", "/var/log/journal/" + MachineId + "/user-1000.journal~",
        "/var/log/wtmp.1",
        "/root/.bash_history", "/root/.python_history", "/home/alice/.bash_history", "/home/alice/.local/share/fish/fish_history",
        "/tmp/build.log", "/tmp/session", "/tmp/.X11-unix", "/var/tmp/cache.tmp", "/var/tmp/systemd-private-abc",
        "/var/cache/apt/archives/tool_1.0_amd64.deb", "/var/cache/apt/archives/partial/lib_2.0_amd64.deb", "/var/cache/apt/pkgcache.bin",
        "/var/cache/dnf/base/packages/tool-1.0.rpm",
        "/opt/build", "/root/test-run.sh", "/root/test-setup.sh",
    ];

    /// <summary>Regular files that must be emptied (and keep their owner and mode).</summary>
    public static IReadOnlyList<string> Emptied { get; } =
    [
        "/var/log/syslog", "/var/log/auth.log", "/var/log/dmesg", "/var/log/apt/history.log", "/var/log/nginx/access.log",
        "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/faillog", "/run/utmp", "/etc/security/opasswd",
    ];

    /// <summary>Files whose content is rewritten (owner, mode, xattrs kept).</summary>
    public static IReadOnlyList<string> Rewritten { get; } =
        ["/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/passwd", "/etc/passwd-", "/etc/machine-id"];

    /// <summary>The --remove patterns a test passes.</summary>
    public static IReadOnlyList<string> RemovePatterns { get; } = ["/opt/build", "/root/test-*.sh"];

    /// <summary>The shadow file as written (before scrubbing).</summary>
    public static string Shadow =>
        $"root:{RootHash}:19700:0:99999:7:::\n" +
        "daemon:*:19700:0:99999:7:::\n" +
        $"alice:{AliceHash}:19700:0:99999:7:::\n" +
        "bob::19700:0:99999:7:::\n" +
        $"carol:!{CarolLockedHash}:19700:0:99999:7:::\n" +
        "sshd:!:19700::::::\n" +
        "nopass:!!:19700::::::\n";

    /// <summary>Builds the tree under <paramref name="root"/>; with <paramref name="systemd"/> the systemd 252 markers are there.</summary>
    public static string Build(string root, bool systemd = true)
    {
        ExternalTools.RequireRoot("the dirty tree has files owned by other users and security.* xattrs");
        string P(string relative) => Path.Combine(root, relative.TrimStart('/'));
        void Write(string relative, string text, string mode = "644", string owner = "0:0")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(P(relative))!);
            File.WriteAllText(P(relative), text);
            Run("chmod", mode, P(relative));
            Run("chown", owner, P(relative));
        }
        void WriteBytes(string relative, byte[] data)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(P(relative))!);
            File.WriteAllBytes(P(relative), data);
        }
        string Lines(string secret, int count) => string.Concat(Enumerable.Range(0, count).Select(i => $"Mar  1 12:{i % 60:D2}:00 host daemon[{i}]: {secret} line {i}\n"));

        Directory.CreateDirectory(root);
        // Accounts.
        Write("/etc/shadow", Shadow, "640", "0:42");
        Run("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:shadow_t:s0", P("/etc/shadow"));
        Write("/etc/shadow-", $"root:{OldRootHash}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n", "600", "0:42");
        Write("/etc/gshadow", $"root:*::\nsudo:{GroupHash}::alice\nusers:!::alice,bob\nstaff:::\n", "640", "0:42");
        Write("/etc/gshadow-", $"root:*::\nsudo:{GroupHash}::alice\n", "600", "0:42");
        Write("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"
            + $"legacy:{LegacyDesHash}:1001:1001::/home/legacy:/bin/sh\n");
        Write("/etc/passwd-", $"root:x:0:0:root:/root:/bin/sh\nlegacy:{LegacyDesHash}:1001:1001::/home/legacy:/bin/sh\n");
        Write("/etc/group", "root:x:0:\nshadow:x:42:\nsudo:x:27:alice\n");
        Write("/etc/security/opasswd", $"alice:1000:1:{OpasswdHash}\n", "600");
        // Host identity.
        Write("/etc/ssh/ssh_host_rsa_key", HostKey, "600");
        Write("/etc/ssh/ssh_host_rsa_key.pub", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQSECREThostKEYmaterial root@builder\n");
        Write("/etc/ssh/ssh_host_ed25519_key", HostKey, "600");
        Write("/etc/ssh/ssh_host_ed25519_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA root@builder\n");
        Write("/etc/ssh/sshd_config", "PermitRootLogin prohibit-password\nPasswordAuthentication yes\n");
        Write("/etc/machine-id", MachineId + "\n", "444");
        Write("/var/lib/dbus/machine-id", MachineId + "\n", "444");
        if (systemd)
        {
            Write("/usr/lib/systemd/systemd", "#!/bin/false (a stand-in for the systemd manager)\n", "755");
            Write("/usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so", "ELF stand-in\n", "644");
        }
        // Logs.
        Write("/var/log/syslog", Lines("SECRETsyslogLINE", 3000), "640", "0:4");
        Write("/var/log/auth.log", Lines("SECRETauthLOG sudo: alice", 200), "640", "0:4");
        Write("/var/log/syslog.1", Lines("SECRETrotatedLOG", 100), "640", "0:4");
        Write("/var/log/syslog.2.gz", "gzip stand-in SECRETrotatedLOG\n", "640", "0:4");
        Write("/var/log/messages-20240101", Lines("SECRETrotatedLOG", 10));
        Write("/var/log/kern.log.old", Lines("SECRETrotatedLOG", 10));
        Write("/var/log/dmesg", Lines("kernel", 100));
        Write("/var/log/dmesg.0", Lines("kernel", 100));
        Write("/var/log/apt/history.log", "Commandline: apt install tool\n");
        Write($"/var/log/journal/{MachineId}/system.journal", Lines("SECRETjournalENTRY", 500), "640", "0:4");
        Write($"/var/log/journal/{MachineId}/user-1000.journal~", Lines("SECRETjournalENTRY", 50), "640", "0:4");
        Write("/var/log/nginx/access.log", Lines("GET /admin?token=SECRETsyslogLINE", 50), "640", "33:4");
        Run("chmod", "750", P("/var/log/nginx"));
        Run("chown", "33:4", P("/var/log/nginx"));
        // Login records; lastlog is sparse, as on a real system.
        Write("/var/log/wtmp", "SECRETwtmpRECORD alice pts/0 10.0.0.1\n", "664", "0:43");
        Write("/var/log/wtmp.1", "SECRETwtmpRECORD root tty1\n", "664", "0:43");
        Write("/var/log/btmp", "SECRETwtmpRECORD failed login\n", "660", "0:43");
        using (var lastlog = new FileStream(P("/var/log/lastlog"), FileMode.Create))
        {
            lastlog.Position = 1000 * 292;
            lastlog.Write(Encoding.ASCII.GetBytes("SECRETwtmpRECORD"));
            lastlog.SetLength(1001 * 292);
        }
        Write("/var/log/faillog", "SECRETwtmpRECORD\n");
        Write("/run/utmp", "SECRETwtmpRECORD\n", "664", "0:43");
        File.CreateSymbolicLink(P("/var/run"), "/run");
        // Histories.
        Write("/root/.bash_history", RootHistory, "600");
        Write("/root/.python_history", "import os; os.environ['SECRETpythonHISTORY']\n", "600");
        Write("/home/alice/.bash_history", AliceHistory, "600", "1000:1000");
        Write("/home/alice/.local/share/fish/fish_history", "- cmd: echo SECRETfishHISTORY\n", "600", "1000:1000");
        Write("/home/alice/notes.txt", "Alice's notes: keep me\n", "644", "1000:1000");
        // Temporary files and caches.
        Write("/tmp/build.log", "SECRETtmpFILE\n");
        Write("/tmp/session/state", "SECRETtmpFILE\n");
        Directory.CreateDirectory(P("/tmp/.X11-unix"));
        Run("chmod", "1777", P("/tmp"));
        Write("/var/tmp/cache.tmp", "SECRETvarTMP\n");
        Write("/var/tmp/systemd-private-abc/tmp/data", "SECRETvarTMP\n");
        Run("chmod", "1777", P("/var/tmp"));
        Write("/var/cache/apt/archives/tool_1.0_amd64.deb", "SECRETcachedPACKAGE\n" + new string('d', 20000));
        Write("/var/cache/apt/archives/partial/lib_2.0_amd64.deb", "SECRETcachedPACKAGE\n");
        Write("/var/cache/apt/pkgcache.bin", "SECRETcachedPACKAGE\n");
        Write("/var/cache/dnf/base/packages/tool-1.0.rpm", "SECRETcachedPACKAGE\n");
        Write("/var/lib/apt/lists/deb.debian.org_dists_bookworm_main_binary-amd64_Packages", "Package: tool\n");
        // Leftovers for --remove.
        Write("/opt/build/token", BuildSecret, "600");
        Write("/opt/build/src/main.c", "int main(void) { return 0; }\n");
        Write("/root/test-run.sh", "#!/bin/sh\necho " + BuildSecret, "755");
        Write("/root/test-setup.sh", "#!/bin/sh\necho " + BuildSecret, "755");
        // What stays.
        Write("/etc/hostname", "published\n");
        Write("/opt/keep.txt", "outside the build directory\n");
        var binary = new byte[200_000];
        new Random(42).NextBytes(binary);
        WriteBytes("/usr/bin/tool", binary);
        Run("chmod", "755", P("/usr/bin/tool"));
        // What the first-boot script needs (stand-ins: only their presence is checked when it is installed).
        Write("/usr/bin/curl", "#!/bin/sh\necho curl stand-in\n", "755");
        Write("/usr/sbin/chpasswd", "#!/bin/sh\necho chpasswd stand-in\n", "755");
        using (var sparse = new FileStream(P("/var/lib/data.bin"), FileMode.Create))
        {
            sparse.Position = 3 * 1024 * 1024;
            sparse.Write(Encoding.ASCII.GetBytes("data far in"));
            sparse.SetLength(4 * 1024 * 1024);
        }
        for (var i = 0; i < 300; i++)
        {
            Write($"/usr/share/doc/many/package-documentation-file-{i:D4}", $"doc {i}\n");
        }
        return root;
    }

    private static void Run(string program, params string[] args)
    {
        var r = ProcessRunner.Run(ExternalTools.Require(program), args);
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {r}");
        }
    }
}
