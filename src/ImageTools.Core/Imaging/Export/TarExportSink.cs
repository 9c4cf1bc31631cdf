namespace ImageTools.Core.Imaging.Export;

/// <summary>
/// Exports into a pax tar archive (<see cref="PaxTarWriter"/>), laid out as <c>tar -C ROOT -cf - .</c>
/// lays it out: "./" first, then "./etc/", "./etc/passwd"... with numeric owners, all permission bits,
/// times with nanoseconds (mtime, atime, ctime records), hard links as link members, device numbers, and
/// every xattr as a SCHILY.xattr.NAME record holding its exact bytes (POSIX ACLs in the getxattr form,
/// which is what GNU tar and bsdtar store there). Tar cannot hold sockets: they are left out with a notice,
/// as GNU tar does.
/// </summary>
public sealed class TarExportSink : IExportSink, IDisposable
{
    private readonly PaxTarWriter _writer;
    private readonly Action<string>? _onNotice;

    /// <param name="output">Where the archive goes (a file, stdout, a compressing stream).</param>
    /// <param name="onNotice">Told about what a tar cannot hold and was left out.</param>
    /// <param name="leaveOpen">Whether disposing the sink leaves <paramref name="output"/> open.</param>
    public TarExportSink(Stream output, Action<string>? onNotice = null, bool leaveOpen = false)
    {
        _writer = new PaxTarWriter(output, leaveOpen);
        _onNotice = onNotice;
    }

    public long BytesWritten => _writer.BytesWritten;

    public void Add(ExportEntry entry)
    {
        byte typeFlag;
        switch (entry.Kind)
        {
            case ExportEntryKind.Directory:
                typeFlag = (byte)'5';
                break;
            case ExportEntryKind.RegularFile:
                typeFlag = (byte)'0';
                break;
            case ExportEntryKind.SymbolicLink:
                typeFlag = (byte)'2';
                break;
            case ExportEntryKind.HardLink:
                typeFlag = (byte)'1';
                break;
            case ExportEntryKind.CharacterDevice:
                typeFlag = (byte)'3';
                break;
            case ExportEntryKind.BlockDevice:
                typeFlag = (byte)'4';
                break;
            case ExportEntryKind.Fifo:
                typeFlag = (byte)'6';
                break;
            default:
                _onNotice?.Invoke($"{entry.Path}: socket left out (a tar archive cannot hold sockets)");
                return;
        }
        var xattrs = new List<(string, byte[])>();
        var acls = new List<(string, byte[])>();
        foreach (var x in entry.Xattrs)
        {
            if (x.Name.Contains('=') || x.Name.Contains('\n'))
            {
                _onNotice?.Invoke($"{entry.Path}: xattr '{x.Name}' left out (its name cannot be written as a pax keyword)");
                continue;
            }
            xattrs.Add((x.Name, x.Value));
            // GNU tar --acls restores ACLs from these text records (and clears a directory's default ACL
            // when there is none); ids stay numeric, as the image's users are not this host's.
            if (x.Name is "system.posix_acl_access" or "system.posix_acl_default" && AclText(x.Value) is { } text)
            {
                acls.Add((x.Name.EndsWith("access", StringComparison.Ordinal) ? "SCHILY.acl.access" : "SCHILY.acl.default", text));
            }
        }
        var member = new TarMember
        {
            Name = MemberName(entry.PathBytes, entry.Kind == ExportEntryKind.Directory),
            TypeFlag = typeFlag,
            Mode = entry.Permissions,
            Uid = entry.Uid,
            Gid = entry.Gid,
            Size = entry.Kind == ExportEntryKind.RegularFile ? entry.Size : 0,
            ModificationTime = entry.ModificationTime,
            AccessTime = entry.AccessTime,
            ChangeTime = entry.ChangeTime,
            LinkName = entry.Kind switch
            {
                ExportEntryKind.SymbolicLink => entry.LinkTarget,
                ExportEntryKind.HardLink => MemberName(entry.HardLinkTarget!, false),
                _ => null,
            },
            DeviceMajor = entry.DeviceMajor,
            DeviceMinor = entry.DeviceMinor,
            Xattrs = xattrs,
            ExtraRecords = acls,
        };
        if (entry.Kind == ExportEntryKind.RegularFile && entry.Size > 0)
        {
            using var content = entry.Content!.OpenRead();
            var ranges = entry.Content.DataRanges().ToList();
            if (content.CanSeek && ranges.Sum(r => r.Length) < entry.Size)
            {
                // Holes stay holes: a GNU sparse member (pax format 1.0) stores only the data ranges.
                _writer.WriteSparse(member, content, ranges);
            }
            else
            {
                _writer.Write(member, content);
            }
        }
        else
        {
            _writer.Write(member);
        }
    }

    public void Complete() => _writer.Finish();

    /// <summary>
    /// A POSIX ACL in the getxattr form (version 2, {tag, perm, id} entries) as the text GNU tar stores
    /// in SCHILY.acl.*: one "tag:qualifier:rwx" entry per line ("user::rw-", "user:1000:r--", "mask::rw-").
    /// Null when the value is malformed (it is still stored as an xattr).
    /// </summary>
    internal static byte[]? AclText(byte[] vfs)
    {
        if (vfs.Length < 4 || (vfs.Length - 4) % 8 != 0 || System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(vfs) != 2)
        {
            return null;
        }
        var lines = new List<string>();
        for (var off = 4; off < vfs.Length; off += 8)
        {
            var tag = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(vfs.AsSpan(off));
            var perm = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(vfs.AsSpan(off + 2));
            var id = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(vfs.AsSpan(off + 4));
            var rwx = $"{((perm & 4) != 0 ? 'r' : '-')}{((perm & 2) != 0 ? 'w' : '-')}{((perm & 1) != 0 ? 'x' : '-')}";
            var line = tag switch
            {
                0x01 => $"user::{rwx}",
                0x02 => $"user:{id}:{rwx}",
                0x04 => $"group::{rwx}",
                0x08 => $"group:{id}:{rwx}",
                0x10 => $"mask::{rwx}",
                0x20 => $"other::{rwx}",
                _ => null,
            };
            if (line == null)
            {
                return null;
            }
            lines.Add(line);
        }
        return System.Text.Encoding.ASCII.GetBytes(string.Join('\n', lines));
    }

    /// <summary>"./" for the root, "./PATH" (with a trailing '/' for directories) otherwise.</summary>
    private static byte[] MemberName(byte[] relative, bool directory)
    {
        if (relative.Length == 1 && relative[0] == (byte)'.')
        {
            return "./"u8.ToArray();
        }
        var name = new byte[2 + relative.Length + (directory ? 1 : 0)];
        name[0] = (byte)'.';
        name[1] = (byte)'/';
        relative.CopyTo(name, 2);
        if (directory)
        {
            name[^1] = (byte)'/';
        }
        return name;
    }

    public void Dispose() => _writer.Dispose();
}
