using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace TrackMulti.Api.Ingestion;

public static class IngestionExtensions
{
    public const string CorsPolicy = "allow-listed-origins";

    /// <summary>For an FME SDK on another origin: it sends its own headers (<c>SplitSDKVersion</c> and others).</summary>
    public const string FmeSdkCorsPolicy = "allow-listed-origins-fme-sdk";

    /// <summary>Options, the intake service, the per-client rate limiter, CORS (closed unless origins are listed) and Kestrel's limits.</summary>
    public static WebApplicationBuilder AddIngestion(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<IngestionOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        var options = builder.Configuration.Get<IngestionOptions>() ?? new IngestionOptions();

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(5));
            // Endpoints ask for less (track: TRACK_MAX_BODY_BYTES, batch and the FME SDK's posts: BATCH_MAX_BODY_BYTES).
            kestrel.Limits.MaxRequestBodySize = Math.Max(options.MaxTrackBodyBytes, options.MaxBatchBodyBytes);
        });

        // A parameter that fails to bind is a 400 in every environment (Development would throw, answer 500 and log
        // an error); the endpoints read what a client may get wrong themselves and answer with a problem type of theirs.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = false);

        builder.Services.AddSingleton<ClientRateLimiter>();
        builder.Services.AddSingleton<EventIntake>();
        // Answers are written by source-generated serializers: no reflection on the request path.
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default);
            // The Api writes numbers as numbers (and reads no body with these options), so its document says so.
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });

        builder.Services.AddCors(cors =>
        {
            if (options.CorsOrigins is { Length: > 0 } origins)
            {
                cors.AddPolicy(CorsPolicy, policy => policy.WithOrigins(origins).WithMethods("GET", "POST")
                    .WithHeaders("Content-Type", "Authorization", ApiKeys.HeaderName));
                cors.AddPolicy(FmeSdkCorsPolicy, policy => policy.WithOrigins(origins).WithMethods("POST").AllowAnyHeader());
            }
        });
        return builder;
    }
}
