using System.Diagnostics;
using BlobCache.Testing;

namespace BlobCache.LoadTests;

/// <summary>Debian's nginx on 127.0.0.1 serving a directory: the baseline for the local endpoint.</summary>
public sealed class Nginx : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _prefix;

    public int Port { get; }

    /// <summary>The master process; the workers are its children.</summary>
    public int Pid => _process.Id;

    private Nginx(Process process, string prefix, int port)
    {
        _process = process;
        _prefix = prefix;
        Port = port;
    }

    public static async Task<Nginx> StartAsync(string root)
    {
        string exe = File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
        int port = Ports.Next();
        string prefix = Directory.CreateTempSubdirectory("blobcache-nginx-").FullName;
        // Tuned like a fair file server: sendfile, keep-alive, one worker per core, no access log.
        string conf = $$"""
            daemon off;
            worker_processes {{Environment.ProcessorCount}};
            pid {{prefix}}/nginx.pid;
            error_log {{prefix}}/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                sendfile on;
                keepalive_requests 1000000;
                keepalive_timeout 120s;
                client_body_temp_path {{prefix}}/body;
                proxy_temp_path {{prefix}}/proxy;
                fastcgi_temp_path {{prefix}}/fastcgi;
                uwsgi_temp_path {{prefix}}/uwsgi;
                scgi_temp_path {{prefix}}/scgi;
                server {
                    listen 127.0.0.1:{{port}};
                    root {{root}};
                }
            }
            """;
        string confPath = Path.Combine(prefix, "nginx.conf");
        await File.WriteAllTextAsync(confPath, conf).ConfigureAwait(false);
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { "-c", confPath, "-p", prefix }) psi.ArgumentList.Add(a);
        Process p = Process.Start(psi) ?? throw new InvalidOperationException("nginx did not start (apt-get install nginx-light)");
        p.OutputDataReceived += static (_, _) => { };
        p.ErrorDataReceived += static (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        await Listening.WaitAsync(p, port, "nginx", () => File.ReadAllText(Path.Combine(prefix, "error.log"))).ConfigureAwait(false);
        return new Nginx(p, prefix, port);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().ConfigureAwait(false);
        _process.Dispose();
        try
        {
            Directory.Delete(_prefix, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
