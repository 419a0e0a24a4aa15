using Microsoft.Extensions.Options;

namespace TrackMulti.Web;

/// <summary>
/// Response headers that keep the page to itself: a Content-Security-Policy that lets the page connect to this
/// origin and to exactly the FME SDK hosts configured (<see cref="PageOptions.SdkHosts"/>), no framing, no sniffing,
/// no referrer.
/// </summary>
public static class SecurityHeaders
{
    public static string ContentSecurityPolicy(PageOptions page) =>
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        $"connect-src {string.Join(' ', ["'self'", .. page.SdkHosts])}; " +
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app)
    {
        var policy = ContentSecurityPolicy(app.ApplicationServices.GetRequiredService<IOptions<PageOptions>>().Value);
        return app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = policy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            await next(context);
        });
    }
}
