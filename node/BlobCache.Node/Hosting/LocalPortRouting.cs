using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing.Matching;

namespace BlobCache.Node.Hosting;

/// <summary>
/// Routes by the port a request arrived on rather than its Host header: the endpoint's routes answer on the HTTP
/// port and gRPC on the peer port whatever host and port the client named, as behind <c>kubectl port-forward</c>, a
/// Service that maps port 80 to the node's, or a Host without a port.
/// </summary>
internal sealed class LocalPortRouting : MatcherPolicy, IEndpointSelectorPolicy
{
    /// <summary>The metadata of an endpoint served on one local port only.</summary>
    public sealed record Port(int Number);

    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Microsoft.AspNetCore.Http.Endpoint> endpoints) =>
        endpoints.Any(e => e.Metadata.GetMetadata<Port>() is not null);

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        int local = httpContext.Connection.LocalPort;
        for (int i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i) && candidates[i].Endpoint.Metadata.GetMetadata<Port>() is { } port && port.Number != local)
                candidates.SetValidity(i, false);
        }
        return Task.CompletedTask;
    }
}

internal static class LocalPortRoutingExtensions
{
    /// <summary>Serves an endpoint only on connections to local port <paramref name="port"/> (see <see cref="LocalPortRouting"/>).</summary>
    public static TBuilder RequireLocalPort<TBuilder>(this TBuilder builder, int port) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new LocalPortRouting.Port(port));
}
