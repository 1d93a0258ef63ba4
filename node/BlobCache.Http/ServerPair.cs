using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace BlobCache.Http;

/// <summary>Two servers running one application (each on its own ports), started and stopped together.</summary>
public sealed class ServerPair(IServer first, IServer second) : IServer
{
    public IFeatureCollection Features => first.Features;

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken) where TContext : notnull
    {
        await second.StartAsync(application, cancellationToken).ConfigureAwait(false);
        try
        {
            await first.StartAsync(application, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await second.StopAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken) =>
        await Task.WhenAll(first.StopAsync(cancellationToken), second.StopAsync(cancellationToken)).ConfigureAwait(false);

    public void Dispose()
    {
        first.Dispose();
        second.Dispose();
    }
}
