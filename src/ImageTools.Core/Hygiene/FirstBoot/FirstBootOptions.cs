using System.Text.RegularExpressions;

namespace ImageTools.Core.Hygiene.FirstBoot;

/// <summary>Which init system starts the first-boot script.</summary>
public enum FirstBootInit
{
    /// <summary>Detect it from the image (/sbin/init, the systemd manager, /etc/inittab, /etc/init.d).</summary>
    Auto,
    /// <summary>A systemd unit, enabled by its multi-user.target.wants link.</summary>
    Systemd,
    /// <summary>An LSB init.d script with S01 links in runlevels 2-5 (sysvinit).</summary>
    SysV,
    /// <summary>A sysinit line in /etc/inittab (busybox init; also read by sysvinit, but there the init.d form is used).</summary>
    Busybox,
}

/// <summary>What the first-boot script does and how it is started.</summary>
public sealed partial record FirstBootOptions
{
    /// <summary>The EC2-style path most platforms serve (the body is the password, as plain text).</summary>
    public const string DefaultMetadataUrl = "http://169.254.169.254/2009-04-04/meta-data/initial-password";

    /// <summary>Where the initial password is fetched from (http or https; the response body is the password).</summary>
    public string MetadataUrl { get; init; } = DefaultMetadataUrl;

    /// <summary>The account whose password is set.</summary>
    public string User { get; init; } = "root";

    /// <summary>How often the metadata service is asked before the script gives up for this boot.</summary>
    public int Attempts { get; init; } = 12;

    /// <summary>Seconds before the second attempt; doubled after each failure, up to 30.</summary>
    public int RetryDelaySeconds { get; init; } = 2;

    /// <summary>Seconds one request may take.</summary>
    public int RequestTimeoutSeconds { get; init; } = 10;

    public FirstBootInit Init { get; init; } = FirstBootInit.Auto;

    [GeneratedRegex(@"^https?://[A-Za-z0-9._~:/?#\[\]@!$&()*+,;=%-]+$")]
    private static partial Regex UrlShape();

    [GeneratedRegex(@"^[a-z_][a-z0-9_.-]{0,31}\$?$")]
    private static partial Regex AccountShape();

    /// <summary>Checks the values before they go into a shell script (quoted there, but also refused if odd).</summary>
    public void Validate()
    {
        if (!UrlShape().IsMatch(MetadataUrl) || MetadataUrl.Contains('\''))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"--metadata-url '{MetadataUrl}' is not an http:// or https:// URL (printable characters only, no quotes or spaces)");
        }
        if (!AccountShape().IsMatch(User))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument,
                $"--first-boot-user '{User}' is not an account name (lowercase letters, digits, '_', '-', '.', at most 32)");
        }
        if (Attempts is < 1 or > 1000 || RetryDelaySeconds is < 0 or > 3600 || RequestTimeoutSeconds is < 1 or > 3600)
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "first-boot attempts must be 1..1000 and delays 0..3600 seconds");
        }
    }
}
