using FluentAssertions;
using ImageTools.Core.Customization.Passwords;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Core.Tests.Customization;

/// <summary>
/// Our SHA-crypt and yescrypt against the system's libxcrypt (through Python's crypt module, which calls
/// crypt(3)) and its mkpasswd, both ways: hashes we make verify there, and hashes made there come out the same here.
/// </summary>
public sealed class PasswordHashTests
{
    /// <summary>crypt(3) of libxcrypt: the password goes through stdin (never a command line).</summary>
    internal static string SystemCrypt(string password, string setting)
    {
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : ExternalTools.Require("python3");
        using var stdin = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(password));
        var r = ProcessRunner.Run(python, ["-W", "ignore", "-c", "import crypt,sys; print(crypt.crypt(sys.stdin.read(), sys.argv[1]))", setting], stdin);
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut.Trim();
    }

    public static TheoryData<string> Passwords() => new("secret", "", "correct horse battery staple", "pässwörd ✓", new string('x', 300), "a:b$c\\d");

    [Theory]
    [MemberData(nameof(Passwords))]
    public void Sha512_and_sha256_crypt_hashes_verify_with_libxcrypt(string password)
    {
        foreach (var sha256 in new[] { false, true })
        {
            foreach (var rounds in new int?[] { null, 1000, 12345 })
            {
                var hash = ShaCrypt.Hash(password, sha256, rounds);
                hash.Should().StartWith(sha256 ? "$5$" : "$6$");
                SystemCrypt(password, hash).Should().Be(hash, $"libxcrypt verifies our {(sha256 ? "SHA-256" : "SHA-512")} hash (rounds {rounds})");
            }
        }
    }

    [Fact]
    public void Sha512_crypt_matches_openssl_passwd()
    {
        var r = ExternalTools.Run("openssl", "passwd", "-6", "-salt", "saltsalt", "secret");
        r.ExitCode.Should().Be(0);
        ShaCrypt.Hash("secret", "saltsalt", sha256: false, rounds: null).Should().Be(r.StdOut.Trim());
    }

    [Theory]
    [MemberData(nameof(Passwords))]
    public void Yescrypt_hashes_verify_with_libxcrypt(string password)
    {
        foreach (var cost in new[] { 1, 3, 5 })
        {
            var hash = Yescrypt.Hash(password, cost);
            hash.Should().MatchRegex(@"^\$y\$j[./0-9A-Za-z]T?[./0-9A-Za-z]*\$[./0-9A-Za-z]{22}\$[./0-9A-Za-z]{43}$");
            SystemCrypt(password, hash).Should().Be(hash, $"libxcrypt verifies our yescrypt hash (cost {cost})");
        }
    }

    [Theory]
    [InlineData("5")]
    [InlineData("3")]
    [InlineData("1")]
    [InlineData("7")]
    public void Yescrypt_computes_what_mkpasswd_computes(string cost)
    {
        var made = ExternalTools.Run("mkpasswd", "-m", "yescrypt", "-R", cost, "a password");
        made.ExitCode.Should().Be(0, made.ToString());
        var hash = made.StdOut.Trim();
        Yescrypt.Hash("a password", hash).Should().Be(hash);
    }

    [Fact]
    public void The_setting_is_what_crypt_gensalt_makes_for_the_default_cost()
    {
        Yescrypt.NewSetting(5).Should().StartWith("$y$j9T$");
        Yescrypt.NewSetting(3).Should().StartWith("$y$j7T$", "cost 3: N = 2^10, r = 32, as mkpasswd -R 3 makes");
        Yescrypt.NewSetting(1).Should().StartWith("$y$j75$", "cost 1: N = 2^10, r = 8, as mkpasswd -R 1 makes");
    }

    [Theory]
    [InlineData(null, "SHA512", "no /etc/login.defs")]
    [InlineData("ENCRYPT_METHOD YESCRYPT\n", "YESCRYPT", "ENCRYPT_METHOD YESCRYPT")]
    [InlineData("# ENCRYPT_METHOD YESCRYPT\nENCRYPT_METHOD SHA512\nSHA_CRYPT_MAX_ROUNDS 6000\n", "SHA512", "ENCRYPT_METHOD SHA512")]
    [InlineData("ENCRYPT_METHOD MD5\n", "SHA512", "weak or not supported")]
    [InlineData("UMASK 022\n", "SHA512", "sets no ENCRYPT_METHOD")]
    public void Login_defs_chooses_the_method(string? defs, string method, string why)
    {
        var hashing = PasswordHashing.FromLoginDefs(defs);
        hashing.Method.Should().Be(method);
        hashing.Why.Should().Contain(why);
        var hash = hashing.Hash("pw");
        SystemCrypt("pw", hash).Should().Be(hash);
        if (defs?.Contains("6000") == true)
        {
            hash.Should().StartWith("$6$rounds=6000$");
        }
    }
}
