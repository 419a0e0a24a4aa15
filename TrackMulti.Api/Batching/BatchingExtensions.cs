using Microsoft.Extensions.Options;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Batching;

public static class BatchingExtensions
{
    /// <summary>The spool and the writer that owns its open segment.</summary>
    public static IHostApplicationBuilder AddBatching(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<BatchingOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<SpoolOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(sp => new SpoolDirectory(
            sp.GetRequiredService<IOptions<SpoolOptions>>().Value.ResolveDirectory(builder.Environment.ContentRootPath)));
        builder.Services.AddSingleton<BatchWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BatchWriter>());
        builder.Services.AddSingleton<SpoolWritableCheck>(); // one instance, so its probe's cache lasts
        builder.Services.AddHealthChecks()
            .AddCheck<SpoolHealthCheck>(SpoolHealthCheck.Name, tags: [Extensions.LiveTag])
            .AddCheck<SpoolWritableCheck>(SpoolWritableCheck.Name);
        return builder;
    }
}
