using System.Globalization;

namespace ImageTools.Core.Customization.Passwords;

/// <summary>How a password is hashed for an image: what its /etc/login.defs asks for (ENCRYPT_METHOD and the cost settings).</summary>
/// <param name="Method">YESCRYPT, SHA512 or SHA256 (what is used).</param>
/// <param name="Why">Where the choice came from, for the report ("ENCRYPT_METHOD YESCRYPT in /etc/login.defs").</param>
public sealed record PasswordHashing(string Method, int? ShaRounds, int YescryptCost, string Why)
{
    /// <summary>The hash of <paramref name="password"/> in this method, with a new random salt.</summary>
    public string Hash(string password) => Method switch
    {
        "YESCRYPT" => Yescrypt.Hash(password, YescryptCost),
        "SHA256" => ShaCrypt.Hash(password, sha256: true, ShaRounds),
        _ => ShaCrypt.Hash(password, sha256: false, ShaRounds),
    };

    /// <summary>"a yescrypt hash", "a SHA-512 crypt hash".</summary>
    public string Describe() => Method switch
    {
        "YESCRYPT" => "a yescrypt hash",
        "SHA256" => "a SHA-256 crypt hash",
        _ => "a SHA-512 crypt hash",
    };

    /// <summary>
    /// Reads login.defs as shadow's tools do (a KEY VALUE per line, # comments, the last one wins) and chooses as
    /// passwd/chpasswd would: ENCRYPT_METHOD YESCRYPT, SHA512 or SHA256 with YESCRYPT_COST_FACTOR (default 5) or
    /// SHA_CRYPT_MIN_ROUNDS/SHA_CRYPT_MAX_ROUNDS (chpasswd picks one between them; this takes the larger). No
    /// login.defs or no ENCRYPT_METHOD: SHA-512 (shadow's own default would be DES, which no one should publish);
    /// MD5, DES or BCRYPT: SHA-512 too, said in <see cref="Why"/> (every PAM that takes those takes SHA-512).
    /// </summary>
    public static PasswordHashing FromLoginDefs(string? content)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in (content ?? "").Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }
            var parts = line.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2)
            {
                settings[parts[0]] = parts[1].Trim().Trim('"');
            }
        }
        int? Number(string key) => settings.TryGetValue(key, out var v) && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

        var min = Number("SHA_CRYPT_MIN_ROUNDS");
        var max = Number("SHA_CRYPT_MAX_ROUNDS");
        int? rounds = max ?? min;
        var cost = Number("YESCRYPT_COST_FACTOR") is int c ? Math.Clamp(c, 1, 11) : 5;
        if (content == null)
        {
            return new PasswordHashing("SHA512", null, cost, "the image has no /etc/login.defs: SHA-512 crypt");
        }
        if (!settings.TryGetValue("ENCRYPT_METHOD", out var method))
        {
            return new PasswordHashing("SHA512", rounds, cost, "/etc/login.defs sets no ENCRYPT_METHOD: SHA-512 crypt");
        }
        var upper = method.ToUpperInvariant();
        return upper switch
        {
            "YESCRYPT" => new PasswordHashing("YESCRYPT", null, cost, $"ENCRYPT_METHOD {method} in /etc/login.defs (cost factor {cost})"),
            "SHA512" or "SHA256" => new PasswordHashing(upper, rounds, cost, $"ENCRYPT_METHOD {method} in /etc/login.defs"),
            _ => new PasswordHashing("SHA512", rounds, cost, $"ENCRYPT_METHOD {method} in /etc/login.defs is weak or not supported here: SHA-512 crypt instead"),
        };
    }
}
