using BlobCache.Node.Telemetry;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace BlobCache.Node.Endpoint;

/// <summary>
/// One Information line for every 4xx/5xx the endpoint answers (method, path, status, error code, reason), at most
/// 20 a second, so an operator can see why readers fail without a flood of bad requests filling the disk.
/// </summary>
public sealed class ErrorAnswerLog(ILogger logger, int perSecond = 20)
{
    private readonly LogRateLimiter _limit = new(perSecond, TimeSpan.FromSeconds(1),
        n => logger.LogInformation("suppressed {Count} error answer lines (more than {PerSecond} a second)", n, perSecond));

    public void Write(HttpContext context, int status, string code, string message)
    {
        if (status < 400 || !logger.IsEnabled(LogLevel.Information)) return;
        if (!_limit.TryAcquire()) return;
        logger.LogInformation("{Method} {Path} answered {Status} {Code}: {Message}", context.Request.Method, context.Request.Path.Value, status, code, message);
    }
}
