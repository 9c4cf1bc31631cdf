using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTools.TestSupport;

/// <summary>
/// A tiny stand-in for a cloud platform's metadata service, for first-boot tests: an HTTP/1.0 server bound to
/// the host's loopback only (127.0.0.1, a free port) that answers GET of one path with a password, and 404
/// elsewhere. A QEMU guest on user-mode networking reaches it as 10.0.2.2:<see cref="Port"/>; a chroot on the
/// host as 127.0.0.1. Every request is recorded.
/// <para>A plain socket, not HttpListener: HttpListener routes by the Host header, so a guest's request for
/// 10.0.2.2:PORT would not match a 127.0.0.1 prefix (it answers 404 itself), and a wildcard prefix would listen
/// on every interface.</para>
/// </summary>
public sealed class MetadataService : IDisposable
{
    /// <summary>The path the platform serves, as in the EC2-style default URL.</summary>
    public const string PasswordPath = "/2009-04-04/meta-data/initial-password";

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<string> _requests = new();

    /// <param name="password">What the password path answers; null answers 404 there too (a platform without one).</param>
    public MetadataService(string? password)
    {
        Password = password;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(Serve);
    }

    public int Port { get; }

    public string? Password { get; set; }

    /// <summary>The paths requested so far, in order.</summary>
    public IReadOnlyList<string> Requests => _requests.ToList();

    /// <summary>The URL a process on the host uses.</summary>
    public string HostUrl => $"http://127.0.0.1:{Port}{PasswordPath}";

    /// <summary>The URL a QEMU guest with user-mode networking uses (10.0.2.2 is the host's loopback there).</summary>
    public string GuestUrl => $"http://10.0.2.2:{Port}{PasswordPath}";

    private async Task Serve()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            using (client)
            {
                try
                {
                    await Answer(client).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
                {
                    // A client that went away: nothing to answer.
                }
            }
        }
    }

    private async Task Answer(TcpClient client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var stream = client.GetStream();
        // The request line and headers, up to the blank line (a GET has no body).
        var head = new MemoryStream();
        var buffer = new byte[4096];
        while (head.Length < 64 * 1024 && !EndsHeaders(head))
        {
            var n = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            head.Write(buffer, 0, n);
        }
        var requestLine = Encoding.ASCII.GetString(head.ToArray()).Split("\r\n")[0].Split(' ');
        var method = requestLine[0];
        var target = requestLine.Length > 1 ? requestLine[1] : "";
        // An absolute-form target (a proxy-style request) names the path after the authority.
        var path = Uri.TryCreate(target, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https" ? absolute.AbsolutePath : target.Split('?')[0];
        _requests.Enqueue(path);
        var password = Password;
        var (status, body) = method == "GET" && path == PasswordPath && password != null
            ? ("200 OK", Encoding.UTF8.GetBytes(password))
            : ("404 Not Found", Encoding.ASCII.GetBytes("not found\n"));
        var header = Encoding.ASCII.GetBytes(
            $"HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(header, timeout.Token).ConfigureAwait(false);
        await stream.WriteAsync(body, timeout.Token).ConfigureAwait(false);
        await stream.FlushAsync(timeout.Token).ConfigureAwait(false);
    }

    private static bool EndsHeaders(MemoryStream head)
    {
        var bytes = head.GetBuffer().AsSpan(0, (int)head.Length);
        return bytes.IndexOf("\r\n\r\n"u8) >= 0 || bytes.IndexOf("\n\n"u8) >= 0;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}

/// <summary>Checks a crypt(3) SHA-512 hash ($6$salt$...) against a password with openssl, the reference.</summary>
public static class CryptHash
{
    public static bool Matches(string hash, string password)
    {
        var parts = hash.Split('$');
        if (parts.Length < 4 || parts[1] != "6")
        {
            throw new ArgumentException($"not a SHA-512 crypt hash: {hash}");
        }
        // rounds=N is part of the salt field when present.
        var salt = parts[2].StartsWith("rounds=", StringComparison.Ordinal) ? parts[2] + "$" + parts[3] : parts[2];
        var r = ProcessRunner.Run(ExternalTools.Require("openssl"), new[] { "passwd", "-6", "-salt", salt, "-stdin" },
            stdin: new MemoryStream(Encoding.UTF8.GetBytes(password + "\n")));
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl passwd failed: {r}");
        }
        return r.StdOut.Trim() == hash;
    }
}
