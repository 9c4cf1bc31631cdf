using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ImageTools.TestSupport;

/// <summary>
/// A tiny stand-in for a cloud platform's metadata service, for first-boot tests: an HTTP server on the
/// host's loopback (127.0.0.1 only, a free port) that answers GET of one path with a password, and 404
/// elsewhere. A QEMU guest on user-mode networking reaches it as 10.0.2.2:<see cref="Port"/>; a chroot
/// on the host as 127.0.0.1. Every request is recorded.
/// </summary>
public sealed class MetadataService : IDisposable
{
    /// <summary>The path the platform serves, as in the EC2-style default URL.</summary>
    public const string PasswordPath = "/2009-04-04/meta-data/initial-password";

    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<string> _requests = new();

    /// <param name="password">What the password path answers; null answers 404 there too (a platform without one).</param>
    public MetadataService(string? password)
    {
        Password = password;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
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
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            var path = context.Request.Url?.AbsolutePath ?? "";
            _requests.Enqueue(path);
            var password = Password;
            if (path == PasswordPath && password != null)
            {
                var body = Encoding.UTF8.GetBytes(password);
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/plain";
                context.Response.ContentLength64 = body.Length;
                await context.Response.OutputStream.WriteAsync(body).ConfigureAwait(false);
            }
            else
            {
                context.Response.StatusCode = 404;
            }
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
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
