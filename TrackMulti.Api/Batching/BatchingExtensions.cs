namespace TrackMulti.Api.Batching;

public static class BatchingExtensions
{
    public static IHostApplicationBuilder AddBatching(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<Batching.BatchingOptions>().Bind(builder.Configuration).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<BatchWriter>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BatchWriter>());
        return builder;
    }
}
