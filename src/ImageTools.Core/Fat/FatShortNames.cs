using System.Text;

namespace ImageTools.Core.Fat;

/// <summary>
/// 8.3 names for long names, as Windows and Linux's vfat make them (fatgen103 section 7, "basis-name generation"):
/// a name that is already a valid upper-case 8.3 name is stored as it is, with no long-name entries; a name that
/// differs from one only in case keeps that short name plus long-name entries; anything else becomes
/// BASIS~N.EXT (upper case, invalid characters as '_', N the first free number in the directory).
/// </summary>
public sealed class FatShortNames
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private const string Allowed = "!#$%&'()-@^_`{}~";

    /// <summary>The 11-byte short name for <paramref name="name"/> and whether long-name entries must carry the real name.</summary>
    public (byte[] ShortName, bool NeedsLongName) Make(string name)
    {
        var dot = name.LastIndexOf('.');
        var (rawBase, rawExt) = dot > 0 ? (name[..dot], name[(dot + 1)..]) : (name, "");
        var lossy = false;
        var basis = Clean(rawBase, ref lossy);
        var ext = Clean(rawExt, ref lossy);
        if (basis.Length > 8 || ext.Length > 3 || (dot > 0 && name.IndexOf('.') != dot))
        {
            lossy = true;
        }
        if (basis.Length == 0)
        {
            basis = "_";
            lossy = true;
        }
        ext = ext.Length > 3 ? ext[..3] : ext;
        string candidate;
        if (!lossy && basis.Length <= 8)
        {
            candidate = Pack(basis, ext);
            if (_used.Add(candidate))
            {
                var exact = name == (ext.Length > 0 ? basis + "." + ext : basis);
                return (Encoding.ASCII.GetBytes(candidate), !exact);
            }
        }
        for (var n = 1; n < 1_000_000; n++)
        {
            var tail = "~" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var head = basis.Length > 8 - tail.Length ? basis[..(8 - tail.Length)] : basis;
            candidate = Pack(head + tail, ext);
            if (_used.Add(candidate))
            {
                return (Encoding.ASCII.GetBytes(candidate), true);
            }
        }
        throw new ImageToolsException(ErrorKind.DoesNotFit, $"no free 8.3 name left for \"{name}\"");
    }

    /// <summary>Reserves a short name already present (".", "..", the volume label).</summary>
    public void Reserve(string packed) => _used.Add(packed);

    private static string Pack(string basis, string ext) => basis.PadRight(8) + ext.PadRight(3);

    private static string Clean(string part, ref bool lossy)
    {
        var sb = new StringBuilder(part.Length);
        foreach (var c in part)
        {
            if (c is ' ' or '.')
            {
                lossy = true;
                continue;
            }
            var upper = char.ToUpperInvariant(c);
            if (upper is >= 'A' and <= 'Z' or >= '0' and <= '9' || Allowed.Contains(upper))
            {
                sb.Append(upper);
            }
            else
            {
                sb.Append('_');
                lossy = true;
            }
        }
        return sb.ToString();
    }
}
